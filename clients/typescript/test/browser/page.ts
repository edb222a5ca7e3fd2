// The page the browser test loads: GetProjectStatus, then a watch held over
// gRPC-Web, both from the web client. What it sees goes on window.patchbay
// for the test to read.

import { connect, isResync } from "../../src/web.js";

/** One update as the test reads it: what happened, to which connection. */
export interface Seen {
  readonly event: string;
  readonly connection: string;
}

export interface Findings {
  projectStatus: { readonly connections: readonly string[] } | undefined;
  readonly seen: Seen[];
  failure: string | undefined;
}

declare global {
  interface Window {
    patchbay: Findings;
  }
}

const findings: Findings = { projectStatus: undefined, seen: [], failure: undefined };
window.patchbay = findings;

const query = new URLSearchParams(location.search);
const client = connect(query.get("server") ?? "", query.get("token") ?? "");

async function run(): Promise<void> {
  const status = await client.status.getProjectStatus({ project: "projects/acme" });
  findings.projectStatus = { connections: status.items.map((item) => item.connection) };
  for await (const update of client.watch("acme", { heartbeatMs: 1000 })) {
    if (isResync(update)) {
      findings.seen.push({ event: "resync", connection: "" });
      continue;
    }
    const connection = update.event.case === "itemChanged" ? (update.event.value.item?.connection ?? "") : "";
    findings.seen.push({ event: update.event.case ?? "", connection });
  }
}

run().catch((e: unknown) => {
  findings.failure = String(e);
});
