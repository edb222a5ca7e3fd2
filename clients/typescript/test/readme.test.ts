// The README's TypeScript guide runs as written: its install line in a
// scratch app, then its example, type-checked with --strict and run
// against a live server.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { freshDatabase, Server } from "./server.js";

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ROOT = resolve(PACKAGE, "../..");

/** The ```language blocks under `heading`, up to the next heading. */
function guideBlocks(heading: string, language: string): string[] {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = text.slice(text.indexOf(`\n${heading}\n`) + heading.length + 2);
  const blocks: string[] = [];
  // Fences and headings in order; a block's own "#" comments are inside fences.
  for (const match of section.matchAll(/^```(\w*)\n([\s\S]*?)^```$|^#{1,3} /gm)) {
    if (match[1] === undefined) {
      break;
    }
    if (match[1] === language) {
      blocks.push(match[2] ?? "");
    }
  }
  return blocks;
}

test("the README's TypeScript guide runs as written", async () => {
  const [install, ...moreInstalls] = guideBlocks("### TypeScript", "sh");
  const [example, ...moreExamples] = guideBlocks("### TypeScript", "ts");
  assert.ok(install !== undefined && example !== undefined && moreInstalls.length + moreExamples.length === 0);
  const app = mkdtempSync(join(tmpdir(), "patchbay-readme-"));
  const server = await new Server(freshDatabase()).start();
  try {
    // The guide runs from a checkout: give the scratch app its clients/.
    symlinkSync(join(ROOT, "clients"), join(app, "clients"));
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    execFileSync("bash", ["-euo", "pipefail", "-c", install], { cwd: app, stdio: "pipe" });

    writeFileSync(join(app, "example.ts"), example.replaceAll("127.0.0.1:50051", `127.0.0.1:${server.grpcPort}`));
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: true,
          typeRoots: [join(PACKAGE, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["example.ts"],
      }),
    );
    execFileSync(join(PACKAGE, "node_modules", ".bin", "tsc"), ["-p", app], { stdio: "pipe" });
    const out = execFileSync(process.execPath, [join(app, "example.js")], {
      cwd: app,
      env: { ...process.env, PATCHBAY_TOKEN: server.token() },
      timeout: 120_000,
    }).toString();
    const lines = out.split("\n");
    assert.ok(lines.includes("projects/acme/connections/web"), out);
    assert.ok(lines.some((line) => line.includes("NOT_FOUND")), out);
    assert.ok(lines.some((line) => line.endsWith(" snapshotEnd")), out);
  } finally {
    await server.stop();
    rmSync(app, { recursive: true, force: true });
  }
});
