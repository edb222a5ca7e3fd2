"""``connect()`` and the :class:`Client` it returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import grpc

from ._gen.patchbay.v1 import (
    action_pb2,
    action_service_pb2,
    action_service_pb2_grpc,
    alert_service_pb2_grpc,
    automation_service_pb2_grpc,
    audit_event_pb2,
    connection_pb2,
    diagnostics_pb2,
    diagnostics_pb2_grpc,
    integration_registry_pb2,
    integration_registry_pb2_grpc,
    integration_type_pb2,
    mapping_template_pb2,
    status_pb2,
    status_service_pb2_grpc,
    webhook_delivery_pb2,
)
from ._policy import Policy, RetryPolicy
from ._watch import Resync, watch

Item = TypeVar("Item")
Request = TypeVar("Request")
Response = TypeVar("Response")

#: Keepalive pings no more often than every 5 minutes and only during
#: calls, which is what strict servers (grpc-go's defaults) allow; watch()
#: finds dead streams by their heartbeats instead.
KEEPALIVE_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 2),
]


def paged(
    method: Callable[[Request], Response],
    request: Request,
    items: Callable[[Response], Iterable[Item]],
) -> Iterator[Item]:
    """Every item of a List method, following ``next_page_token``."""
    while True:
        response = method(request)
        yield from items(response)
        token: str = getattr(response, "next_page_token")
        if not token:
            return
        following = type(request)()
        following.CopyFrom(request)  # type: ignore[attr-defined]
        following.page_token = token  # type: ignore[attr-defined]
        request = following


class Client:
    """The six services, behind the call policy, plus page iterators and
    a resuming ``watch()``. Close it (or use it as a context manager)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.registry = integration_registry_pb2_grpc.IntegrationRegistryStub(channel)
        self.status = status_service_pb2_grpc.StatusServiceStub(channel)
        self.actions = action_service_pb2_grpc.ActionServiceStub(channel)
        self.diagnostics = diagnostics_pb2_grpc.DiagnosticsStub(channel)
        self.alerts = alert_service_pb2_grpc.AlertServiceStub(channel)
        self.automations = automation_service_pb2_grpc.AutomationServiceStub(channel)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def list_integration_types(
        self, *, query: str = "", page_size: int = 0
    ) -> Iterator[integration_type_pb2.IntegrationType]:
        return paged(
            self.registry.ListIntegrationTypes,
            integration_registry_pb2.ListIntegrationTypesRequest(query=query, page_size=page_size),
            lambda r: r.integration_types,
        )

    def list_connections(
        self, project: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[connection_pb2.Connection]:
        return paged(
            self.registry.ListConnections,
            integration_registry_pb2.ListConnectionsRequest(
                parent=_project(project), filter=filter, page_size=page_size
            ),
            lambda r: r.connections,
        )

    def list_mapping_templates(
        self, project: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[mapping_template_pb2.MappingTemplate]:
        return paged(
            self.registry.ListMappingTemplates,
            integration_registry_pb2.ListMappingTemplatesRequest(
                parent=_project(project), filter=filter, page_size=page_size
            ),
            lambda r: r.mapping_templates,
        )

    def list_actions(
        self, project: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[action_pb2.Action]:
        return paged(
            self.actions.ListActions,
            action_service_pb2.ListActionsRequest(
                parent=_project(project), filter=filter, page_size=page_size
            ),
            lambda r: r.actions,
        )

    def list_webhook_deliveries(
        self, connection: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[webhook_delivery_pb2.WebhookDelivery]:
        return paged(
            self.diagnostics.ListWebhookDeliveries,
            diagnostics_pb2.ListWebhookDeliveriesRequest(
                parent=connection, filter=filter, page_size=page_size
            ),
            lambda r: r.deliveries,
        )

    def list_audit_events(
        self, project: str, *, filter: str = "", page_size: int = 0
    ) -> Iterator[audit_event_pb2.AuditEvent]:
        """The project's audit log, newest first (``"-"``: every project's)."""
        return paged(
            self.diagnostics.ListAuditEvents,
            diagnostics_pb2.ListAuditEventsRequest(
                parent=_project(project), filter=filter, page_size=page_size
            ),
            lambda r: r.audit_events,
        )

    def watch(
        self,
        project: str,
        *,
        heartbeat: float = 10.0,
        include_types: Sequence[str] = (),
        resume_from: int | None = None,
    ) -> Iterator[status_pb2.StatusUpdate | Resync]:
        """Status updates, resumed across failures; see :mod:`._watch`."""
        return watch(
            self.status,
            project,
            heartbeat=heartbeat,
            include_types=include_types,
            resume_from=resume_from,
        )


def _project(project: str) -> str:
    return project if project.startswith("projects/") else f"projects/{project}"


def connect(
    address: str,
    token: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    deadline: float | None = 10.0,
    retry: RetryPolicy | None = None,
    interceptors: Sequence[Any] = (),
    options: Sequence[tuple[str, Any]] = (),
) -> Client:
    """A client of the server at ``address`` (``host:port``), calling with
    ``token``. ``deadline`` is each unary call's default, retries
    included; streams have none. ``interceptors`` run inside the retry
    loop, once per attempt."""
    channel_options = [*KEEPALIVE_OPTIONS, *options]
    if tls or root_certificates is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        channel = grpc.secure_channel(address, credentials, options=channel_options)
    else:
        channel = grpc.insecure_channel(address, options=channel_options)
    policy = Policy(token, deadline, retry or RetryPolicy())
    # The first interceptor is the outermost: the policy wraps the caller's.
    return Client(grpc.intercept_channel(channel, policy, *interceptors))
