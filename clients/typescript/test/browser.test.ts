// gRPC-Web from a real browser: headless Chromium (the system's, driven by
// playwright-core) loads a page from another origin, which calls
// GetProjectStatus and holds a watch that sees a change and resumes across
// a server restart.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";

import { chromium, type Page } from "playwright-core";

import { connect } from "../src/node.js";
import type { Findings } from "./browser/page.js";
import { freshDatabase, Server } from "./server.js";
import { Site } from "./site.js";

/** Debian's chromium (its binary, not the wrapper script), or CHROMIUM. */
function chromiumPath(): string {
  const candidates = [process.env["CHROMIUM"], "/usr/lib/chromium/chromium", "/usr/bin/chromium"];
  const found = candidates.find((path) => path !== undefined && existsSync(path));
  if (found === undefined) {
    throw new Error("chromium not found: install Debian's chromium or set CHROMIUM");
  }
  return found;
}

function findings(page: Page): Promise<Findings> {
  return page.evaluate(() => window.patchbay);
}

/** Until the page's watch saw `connection` change (or the page failed). */
async function changeSeen(page: Page, connection: string): Promise<Findings> {
  await page.waitForFunction(
    (name) =>
      window.patchbay.failure !== undefined ||
      window.patchbay.seen.some((s) => s.event === "itemChanged" && s.connection === name),
    `projects/acme/connections/${connection}`,
    { timeout: 30_000 },
  );
  const found = await findings(page);
  assert.equal(found.failure, undefined);
  return found;
}

test("a page holds a watch over gRPC-Web across a server restart", async () => {
  const site = await Site.start();
  const server = await new Server(freshDatabase(), ["--cors-origin", site.origin]).start();
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on("console", (message) => logs.push(message.text()));
    page.on("pageerror", (error) => logs.push(String(error)));
    const query = new URLSearchParams({ server: server.baseUrl, token: server.token() });
    await page.goto(`${site.origin}/?${query.toString()}`);

    await page.waitForFunction(
      () => window.patchbay.failure !== undefined || window.patchbay.seen.some((s) => s.event === "snapshot"),
      undefined,
      { timeout: 30_000 },
    );
    const first = await findings(page);
    assert.equal(first.failure, undefined, logs.join("\n"));
    assert.deepEqual(first.projectStatus, { connections: [] }, "GetProjectStatus answered");

    const writer = connect(server.baseUrl, server.token());
    const create = (id: string): Promise<unknown> =>
      writer.registry.createConnection({
        parent: "projects/acme",
        connectionId: id,
        connection: { integrationType: "integrationTypes/github", settings: { owner: "acme", repo: id } },
      });
    await create("web");
    await changeSeen(page, "web");

    await server.stop();
    await server.start();
    await create("after");
    const last = await changeSeen(page, "after");
    assert.ok(
      !last.seen.some((s) => s.event === "resync"),
      "resumed from its position, not resynced",
    );
    assert.equal(last.seen.filter((s) => s.event === "snapshot").length, 1, "one snapshot, at the start");
  } finally {
    await browser.close();
    await server.stop();
    await site.stop();
  }
});
