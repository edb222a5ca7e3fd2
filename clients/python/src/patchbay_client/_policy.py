"""What every call gets: the bearer token, a deadline when the caller set
none, one ``request_id`` for a call's every attempt, retries on UNAVAILABLE
only (jittered exponential backoff, or the server's RetryInfo delay, within
the call's deadline), and errors raised as :class:`PatchbayError`."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import Message

from ._errors import PatchbayError


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of UNAVAILABLE answers; every other code fails at once."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0

    def delay(self, attempt: int, server_says: float | None) -> float:
        if server_says is not None:
            return server_says
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        # Full jitter: clients that failed together do not retry together.
        return random.uniform(0, ceiling)


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def with_request_id(request: Any) -> Any:
    """A copy of ``request`` with ``request_id`` filled, when it has that
    field and the caller left it empty; the same id serves every attempt,
    so a retry never creates a second resource or action."""
    if not isinstance(request, Message):
        return request
    if "request_id" not in request.DESCRIPTOR.fields_by_name:
        return request
    if getattr(request, "request_id"):
        return request
    filled = type(request)()
    filled.CopyFrom(request)
    setattr(filled, "request_id", str(uuid.uuid4()))
    return filled


def _failure(call: Any) -> PatchbayError | None:
    """The error a continuation's outcome holds, if it failed. An inner
    interceptor's error comes back as the exception itself, not a call."""
    if isinstance(call, grpc.RpcError) and not isinstance(call, grpc.Future):
        return PatchbayError.from_rpc_error(call)
    try:
        call.result()
    except grpc.RpcError as failed:
        return PatchbayError.from_rpc_error(failed)
    return None


class Policy(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: str, deadline: float | None, retry: RetryPolicy) -> None:
        self._authorization = ("authorization", f"Bearer {token}")
        self._deadline = deadline
        self._retry = retry

    def _details(self, details: Any, timeout: float | None) -> _Details:
        metadata = list(details.metadata or [])
        if not any(key == "authorization" for key, _ in metadata):
            metadata.append(self._authorization)
        return _Details(
            details.method,
            timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self,
        continuation: Callable[[Any, Any], Any],
        client_call_details: Any,
        request: Any,
    ) -> Any:
        budget = client_call_details.timeout
        if budget is None:
            budget = self._deadline
        ends = None if budget is None else time.monotonic() + budget
        request = with_request_id(request)
        attempt = 0
        while True:
            attempt += 1
            left = None if ends is None else max(ends - time.monotonic(), 0.0)
            call = continuation(self._details(client_call_details, left), request)
            error = _failure(call)
            if error is None:
                return call
            if error.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self._retry.max_attempts:
                raise error
            wait = self._retry.delay(attempt, error.retry_after)
            if ends is not None and time.monotonic() + wait >= ends:
                raise error
            time.sleep(wait)

    def intercept_unary_stream(
        self,
        continuation: Callable[[Any, Any], Any],
        client_call_details: Any,
        request: Any,
    ) -> Any:
        # Streams are long-lived: no default deadline; watch() resumes them.
        details = self._details(client_call_details, client_call_details.timeout)
        return continuation(details, request)
