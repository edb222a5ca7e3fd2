"""Errors as Patchbay sends them: the gRPC code and message, and the
google.rpc details decoded (ErrorInfo, BadRequest, RetryInfo)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

__all__ = ["FieldViolation", "PatchbayError"]


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request (google.rpc.BadRequest)."""

    field: str
    description: str


class PatchbayError(grpc.RpcError):
    """A failed call. ``reason`` is ErrorInfo's UPPER_SNAKE reason, e.g.
    ``CONNECTION_NOT_FOUND``; ``metadata`` its key/value pairs;
    ``field_violations`` BadRequest's; ``retry_after`` RetryInfo's delay in
    seconds, where the server named one."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}" + (f" ({reason})" if reason else ""))
        self._code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations = field_violations
        self.retry_after = retry_after

    def code(self) -> grpc.StatusCode:
        """As on a failed ``grpc.Call``."""
        return self._code

    def details(self) -> str:
        """The message, as on a failed ``grpc.Call``."""
        return self.message

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> PatchbayError:
        """Decodes the details of a failed call (a ``grpc.Call``)."""
        if isinstance(error, PatchbayError):
            return error
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
        message = str(error)
        if isinstance(error, grpc.Call):
            code = error.code()
            message = error.details() or ""
        details = _Details()
        if isinstance(error, grpc.Call):
            try:
                status = rpc_status.from_call(error)
            except ValueError:
                status = None
            if status is not None:
                details.read(status.details)
        return cls(
            code,
            message,
            reason=details.reason,
            domain=details.domain,
            metadata=details.metadata,
            field_violations=tuple(details.violations),
            retry_after=details.retry_after,
        )


@dataclass
class _Details:
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[FieldViolation] = field(default_factory=list)
    retry_after: float | None = None

    def read(self, details: Iterable[Any]) -> None:
        for any_detail in details:
            if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                any_detail.Unpack(info)
                self.reason, self.domain = info.reason, info.domain
                self.metadata = dict(info.metadata)
            elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                any_detail.Unpack(bad)
                self.violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
            elif any_detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                any_detail.Unpack(retry)
                self.retry_after = retry.retry_delay.ToTimedelta().total_seconds()
