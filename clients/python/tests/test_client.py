"""The client against a live server: create, read status, an action retried
through an injected UNAVAILABLE, pages, decoded errors and watches that
resume across a restart or resync after their position expired."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from patchbay_client import Client, PatchbayError, Resync, connect, v1

from .conftest import Server


def create_github(client: Client, connection_id: str) -> v1.Connection:
    settings = struct_pb2.Struct()
    settings.update({"owner": "acme", "repo": connection_id})
    return client.registry.CreateConnection(
        v1.CreateConnectionRequest(
            parent="projects/acme",
            connection_id=connection_id,
            connection=v1.Connection(integration_type="integrationTypes/github", settings=settings),
        )
    )


def test_creates_a_connection_and_reads_its_status(client: Client) -> None:
    created = create_github(client, "web")
    assert created.name == "projects/acme/connections/web"
    rules = client.alerts.ListAlertRules(v1.ListAlertRulesRequest(parent="projects/acme"))
    assert [r.severity for r in rules.alert_rules] == [
        v1.ALERT_SEVERITY_CRITICAL,
        v1.ALERT_SEVERITY_WARNING,
        v1.ALERT_SEVERITY_INFO,
    ], "a new project's default alert rules"
    # Status is served from memory, which follows the event log: poll.
    deadline = time.monotonic() + 10
    while True:
        status = client.status.GetProjectStatus(
            v1.GetProjectStatusRequest(project="projects/acme")
        )
        items = {item.connection: item for item in status.items}
        if created.name in items:
            break
        assert time.monotonic() < deadline, "the new connection never showed in its status"
        time.sleep(0.05)
    assert items[created.name].status == v1.STATUS_LEVEL_DISCONNECTED
    assert status.seq > 0


class LoseFirstAnswer(grpc.UnaryUnaryClientInterceptor):
    """Lets the first call of ``method`` reach the server, then reports
    UNAVAILABLE, as a connection dropped before the answer would."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.request_ids: list[str] = []

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], client_call_details: Any, request: Any
    ) -> Any:
        call = continuation(client_call_details, request)
        if client_call_details.method.endswith(self.method):
            self.request_ids.append(request.request_id)
            if len(self.request_ids) == 1:
                call.result()
                raise PatchbayError(grpc.StatusCode.UNAVAILABLE, "injected")
        return call


def test_a_retried_start_action_reuses_its_request_id_and_starts_one_action(
    server: Server,
) -> None:
    lose = LoseFirstAnswer("/StartAction")
    with connect(server.address, server.token(), interceptors=[lose]) as client:
        create_github(client, "web")
        action = client.actions.StartAction(
            v1.StartActionRequest(
                connection="projects/acme/connections/web", action="test-connection"
            )
        )
        assert len(lose.request_ids) == 2, "retried once"
        assert lose.request_ids[0] and lose.request_ids[0] == lose.request_ids[1]
        actions = list(client.list_actions("acme"))
        assert [a.name for a in actions] == [action.name]


def test_list_iterators_follow_page_tokens(server: Server) -> None:
    pages: list[str] = []

    class CountPages(grpc.UnaryUnaryClientInterceptor):
        def intercept_unary_unary(
            self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
        ) -> Any:
            if details.method.endswith("/ListConnections"):
                pages.append(request.page_token)
            return continuation(details, request)

    with connect(server.address, server.token(), interceptors=[CountPages()]) as client:
        for name in ["a", "b", "c", "d", "e"]:
            create_github(client, name)
        listed = [c.name.rsplit("/", 1)[1] for c in client.list_connections("acme", page_size=2)]
        audit = list(client.list_audit_events("acme", page_size=2))
    assert sorted(listed) == ["a", "b", "c", "d", "e"]
    assert len(pages) == 3 and pages[0] == "" and all(pages[1:])
    assert [e.name for e in audit] == [f"projects/acme/auditEvents/{n}" for n in range(5, 0, -1)]
    assert {e.method for e in audit} == {"IntegrationRegistry.CreateConnection"}
    assert audit[0].resource == "projects/acme/connections/e"


def test_errors_carry_error_info_and_field_violations(client: Client) -> None:
    with pytest.raises(PatchbayError) as missing:
        client.registry.GetConnection(v1.GetConnectionRequest(name="projects/acme/connections/no"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.reason.endswith("NOT_FOUND")
    assert missing.value.domain == "patchbay.dev"

    with pytest.raises(PatchbayError) as invalid:
        client.registry.CreateConnection(
            v1.CreateConnectionRequest(
                parent="projects/acme",
                connection_id="Not A Valid Id!",
                connection=v1.Connection(integration_type="integrationTypes/github"),
            )
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(v.field == "connection_id" for v in invalid.value.field_violations)


class Watching:
    """A watch consumed on a thread; its updates in a queue."""

    def __init__(self, updates: Iterator[v1.StatusUpdate | Resync]) -> None:
        self.updates = updates
        self.queue: queue.Queue[v1.StatusUpdate | Resync] = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for update in self.updates:
            self.queue.put(update)

    def until(self, what: str, wanted: Callable[[v1.StatusUpdate | Resync], bool]) -> list[Any]:
        """Every update up to the first ``wanted`` one (30 s at most)."""
        seen: list[Any] = []
        while True:
            try:
                update = self.queue.get(timeout=30)
            except queue.Empty:
                raise AssertionError(f"no update {what}; saw {seen}") from None
            seen.append(update)
            if wanted(update):
                return seen


def is_snapshot(update: Any) -> bool:
    return isinstance(update, v1.StatusUpdate) and update.WhichOneof("event") == "snapshot"


def changed(connection: str) -> Callable[[Any], bool]:
    def matches(update: Any) -> bool:
        return (
            isinstance(update, v1.StatusUpdate)
            and update.WhichOneof("event") == "item_changed"
            and update.item_changed.item.connection.endswith(f"/connections/{connection}")
        )

    return matches


def test_a_watch_resumes_across_a_server_restart(server: Server, client: Client) -> None:
    watching = Watching(client.watch("acme", heartbeat=1.0))
    watching.until("snapshot", is_snapshot)
    server.stop()
    server.start()
    create_github(client, "after")
    seen = watching.until("for the new connection", changed("after"))
    assert not any(isinstance(u, Resync) or is_snapshot(u) for u in seen), "resumed, not resynced"


def test_a_watch_resyncs_when_its_position_expired(
    database: str, server: Server, client: Client
) -> None:
    watching = Watching(client.watch("acme", heartbeat=1.0))
    watching.until("snapshot", is_snapshot)
    server.stop()
    # While the watcher is away: events it will not be able to resume past.
    other = Server(database).start()
    with connect(other.address, other.token()) as writer:
        create_github(writer, "x")
        create_github(writer, "y")
    other.stop()
    purger = Server(database, "--event-retention", "0s").start()
    purger.wait_for("old status events purged")
    purger.stop()
    server.start()
    seen = watching.until("snapshot after the resync", is_snapshot)
    assert isinstance(seen[-2], Resync), "the marker comes right before the snapshot"
    names = {item.connection for item in seen[-1].snapshot.items}
    assert {"projects/acme/connections/x", "projects/acme/connections/y"} <= names
