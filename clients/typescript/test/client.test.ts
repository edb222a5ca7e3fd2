// The client against a live server: create, read status, an action retried
// through an injected UNAVAILABLE, pages, decoded errors and watches that
// resume across a restart or resync after their position expired.

import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

import { connect, isResync, PatchbayError, type PatchbayClient, type Resync, v1 } from "../src/node.js";
import { freshDatabase, Server } from "./server.js";

let database: string;
let server: Server;
let client: PatchbayClient;

beforeEach(async () => {
  database = freshDatabase();
  server = await new Server(database).start();
  client = connect(server.baseUrl, server.token());
});

afterEach(async () => {
  await server.stop();
});

function createGithub(on: PatchbayClient, id: string): Promise<v1.Connection> {
  return on.registry.createConnection({
    parent: "projects/acme",
    connectionId: id,
    connection: {
      integrationType: "integrationTypes/github",
      settings: { owner: "acme", repo: id },
    },
  });
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) {
      return found;
    }
    assert.ok(Date.now() < deadline, `never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("creates a connection and reads its status", async () => {
  const created = await createGithub(client, "web");
  assert.equal(created.name, "projects/acme/connections/web");
  const rules = await client.alerts.listAlertRules({ parent: "projects/acme" });
  assert.deepEqual(
    rules.alertRules.map((r) => r.severity),
    [v1.AlertSeverity.CRITICAL, v1.AlertSeverity.WARNING, v1.AlertSeverity.INFO],
    "a new project's default alert rules",
  );
  // Status is served from memory, which follows the event log: poll.
  const item = await eventually("the connection in its project's status", async () => {
    const status = await client.status.getProjectStatus({ project: "projects/acme" });
    return status.items.find((i) => i.connection === created.name);
  });
  assert.equal(item.status, v1.StatusLevel.DISCONNECTED);
});

test("a retried StartAction reuses its requestId and starts one action", async () => {
  const requestIds: string[] = [];
  // Lets the first StartAction reach the server, then reports UNAVAILABLE,
  // as a connection dropped before the answer would.
  const loseFirstAnswer: Interceptor = (next) => async (req) => {
    const res = await next(req);
    if (req.method.name === "StartAction" && !req.stream) {
      requestIds.push((req.message as v1.StartActionRequest).requestId);
      if (requestIds.length === 1) {
        throw new ConnectError("injected", Code.Unavailable);
      }
    }
    return res;
  };
  const lossy = connect(server.baseUrl, server.token(), { interceptors: [loseFirstAnswer] });
  await createGithub(lossy, "web");
  const action = await lossy.actions.startAction({
    connection: "projects/acme/connections/web",
    action: "test-connection",
  });
  assert.equal(requestIds.length, 2, "retried once");
  assert.ok(requestIds[0] !== "" && requestIds[0] === requestIds[1]);
  const all: string[] = [];
  for await (const a of lossy.listActions("acme")) {
    all.push(a.name);
  }
  assert.deepEqual(all, [action.name]);
});

test("list iterators follow page tokens", async () => {
  const tokens: string[] = [];
  const countPages: Interceptor = (next) => async (req) => {
    if (req.method.name === "ListConnections" && !req.stream) {
      tokens.push((req.message as v1.ListConnectionsRequest).pageToken);
    }
    return next(req);
  };
  const counted = connect(server.baseUrl, server.token(), { interceptors: [countPages] });
  for (const id of ["a", "b", "c", "d", "e"]) {
    await createGithub(counted, id);
  }
  const listed: string[] = [];
  for await (const c of counted.listConnections("acme", { pageSize: 2 })) {
    listed.push(c.name.split("/").at(-1) ?? "");
  }
  assert.deepEqual(listed.sort(), ["a", "b", "c", "d", "e"]);
  assert.equal(tokens.length, 3);
  assert.equal(tokens[0], "");
  assert.ok(tokens.slice(1).every((t) => t !== ""));
  const audit: v1.AuditEvent[] = [];
  for await (const e of counted.listAuditEvents("acme", { pageSize: 2 })) {
    audit.push(e);
  }
  assert.deepEqual(
    audit.map((e) => e.name),
    [5, 4, 3, 2, 1].map((n) => `projects/acme/auditEvents/${n}`),
  );
  assert.ok(audit.every((e) => e.method === "IntegrationRegistry.CreateConnection"));
  assert.equal(audit[0]?.resource, "projects/acme/connections/e");
});

test("errors carry ErrorInfo and field violations", async () => {
  const missing = await client.registry
    .getConnection({ name: "projects/acme/connections/no" })
    .then(() => undefined, (e: unknown) => e);
  assert.ok(missing instanceof PatchbayError);
  assert.ok(missing instanceof ConnectError, "a PatchbayError is a ConnectError");
  assert.ok(!(new ConnectError("plain") instanceof PatchbayError));
  assert.equal(missing.code, Code.NotFound);
  assert.match(missing.reason, /NOT_FOUND$/);
  assert.equal(missing.domain, "patchbay.dev");

  const invalid = await client.registry
    .createConnection({
      parent: "projects/acme",
      connectionId: "Not A Valid Id!",
      connection: { integrationType: "integrationTypes/github" },
    })
    .then(() => undefined, (e: unknown) => e);
  assert.ok(invalid instanceof PatchbayError);
  assert.equal(invalid.code, Code.InvalidArgument);
  assert.ok(invalid.fieldViolations.some((v) => v.field === "connection_id"));
});

type Update = v1.StatusUpdate | Resync;

/** A watch consumed in the background; its updates in order. */
class Watching {
  private readonly seen: Update[] = [];
  private wake: (() => void) | undefined;
  private read = 0;
  readonly stop = new AbortController();

  constructor(updates: AsyncGenerator<Update>) {
    void (async () => {
      for await (const update of updates) {
        this.seen.push(update);
        this.wake?.();
      }
    })().catch(() => undefined);
  }

  /** Every update up to the first `wanted` one (30 s at most). */
  async until(what: string, wanted: (u: Update) => boolean): Promise<Update[]> {
    const deadline = Date.now() + 30_000;
    const out: Update[] = [];
    for (;;) {
      while (this.read < this.seen.length) {
        const update = this.seen[this.read++] as Update;
        out.push(update);
        if (wanted(update)) {
          return out;
        }
      }
      assert.ok(Date.now() < deadline, `no update ${what}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
    }
  }
}

const isSnapshot = (u: Update): boolean => !isResync(u) && u.event.case === "snapshot";
const changed =
  (id: string) =>
  (u: Update): boolean =>
    !isResync(u) &&
    u.event.case === "itemChanged" &&
    (u.event.value.item?.connection.endsWith(`/connections/${id}`) ?? false);

test("a watch resumes across a server restart", async () => {
  const stop = new AbortController();
  const watching = new Watching(client.watch("acme", { heartbeatMs: 1000, signal: stop.signal }));
  await watching.until("snapshot", isSnapshot);
  await server.stop();
  await server.start();
  await createGithub(client, "after");
  const seen = await watching.until("for the new connection", changed("after"));
  stop.abort();
  assert.ok(!seen.some((u) => isResync(u) || isSnapshot(u)), "resumed, not resynced");
});

test("a watch resyncs when its position expired", async () => {
  const stop = new AbortController();
  const watching = new Watching(client.watch("acme", { heartbeatMs: 1000, signal: stop.signal }));
  await watching.until("snapshot", isSnapshot);
  await server.stop();
  // While the watcher is away: events it will not be able to resume past.
  const other = await new Server(database).start();
  const writer = connect(other.baseUrl, other.token());
  await createGithub(writer, "x");
  await createGithub(writer, "y");
  await other.stop();
  const purger = await new Server(database, ["--event-retention", "0s"]).start();
  await purger.waitFor("old status events purged");
  await purger.stop();
  await server.start();
  const seen = await watching.until("snapshot after the resync", isSnapshot);
  stop.abort();
  assert.ok(isResync(seen.at(-2) as Update), "the marker comes right before the snapshot");
  const last = seen.at(-1) as v1.StatusUpdate;
  assert.equal(last.event.case, "snapshot");
  const names = last.event.case === "snapshot" ? last.event.value.items.map((i) => i.connection) : [];
  assert.ok(names.includes("projects/acme/connections/x") && names.includes("projects/acme/connections/y"));
});
