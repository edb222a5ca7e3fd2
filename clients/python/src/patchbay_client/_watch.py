"""``watch()``: a project's status updates, held across failures.

A dropped stream is resumed from the last sequence number seen. When the
server no longer keeps that position (RESUME_POSITION_EXPIRED) a fresh
snapshot is taken, and a :class:`Resync` marker is yielded before it so
the caller knows to rebuild its view. A stream silent for more than twice
the heartbeat interval is treated as dead and resumed."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import duration_pb2

from ._errors import PatchbayError
from ._gen.patchbay.v1 import status_pb2, status_service_pb2, status_service_pb2_grpc

#: Codes after which the stream is resumed rather than the error raised.
_RESUMABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


@dataclass(frozen=True)
class Resync:
    """The watch lost its place: discard what you built from earlier
    updates; a full snapshot follows."""

    oldest_seq: int | None


class _Watchdog:
    """Cancels a call that has been silent for ``limit`` seconds."""

    def __init__(self, call: grpc.RpcContext, limit: float) -> None:
        self._call = call
        self._limit = limit
        self._last = time.monotonic()
        self._stop = threading.Event()
        self.fired = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(min(self._limit / 4, 1.0)):
            if time.monotonic() - self._last > self._limit:
                self.fired = True
                self._call.cancel()
                return

    def fed(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()


def watch(
    stub: status_service_pb2_grpc.StatusServiceStub,
    project: str,
    *,
    heartbeat: float = 10.0,
    include_types: Sequence[str] = (),
    resume_from: int | None = None,
    max_backoff: float = 5.0,
) -> Iterator[status_pb2.StatusUpdate | Resync]:
    name = project if project.startswith("projects/") else f"projects/{project}"
    interval = duration_pb2.Duration()
    interval.FromMilliseconds(int(heartbeat * 1000))
    last = resume_from
    backoff = 0.2
    while True:
        request = status_service_pb2.WatchProjectStatusRequest(
            project=name, heartbeat_interval=interval, include_types=list(include_types)
        )
        if last is not None:
            request.resume_from = last
        try:
            call = stub.WatchProjectStatus(request)
        except ValueError:
            return  # the client was closed
        watchdog = _Watchdog(call, 2 * heartbeat)
        try:
            for update in call:
                watchdog.fed()
                last = update.seq
                backoff = 0.2
                yield update
        except grpc.RpcError as failed:
            error = PatchbayError.from_rpc_error(failed)
            if error.reason == "RESUME_POSITION_EXPIRED":
                oldest = error.metadata.get("oldest_seq")
                last = None
                yield Resync(int(oldest) if oldest and oldest.isdigit() else None)
                continue
            if error.code() not in _RESUMABLE and not watchdog.fired:
                raise error from None
        except ValueError:
            return  # the client was closed
        finally:
            watchdog.stop()
            call.cancel()
        time.sleep(random.uniform(backoff / 2, backoff))
        backoff = min(backoff * 2, max_backoff)
