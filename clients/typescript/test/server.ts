// A live Patchbay server for the tests: the binary the test command built
// (PATCHBAY_BIN), on a fresh database of DATABASE_URL's server.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const JWT_SECRET = "typescript-client-tests-secret-of-32-bytes";
const ENCRYPTION_KEYS = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
// Where scripts/test gathers every log line and every secret for its log
// scan; unset, nothing is recorded.
const LOG_SCAN_DIR = process.env["PATCHBAY_LOG_SCAN_DIR"];

function record(kind: "log" | "secrets", line: string): void {
  if (LOG_SCAN_DIR !== undefined && LOG_SCAN_DIR !== "") {
    mkdirSync(LOG_SCAN_DIR, { recursive: true });
    appendFileSync(join(LOG_SCAN_DIR, `typescript-${process.pid}.${kind}`), `${line}\n`);
  }
}

function recordSecret(value: string): void {
  if (value !== "") {
    record("secrets", JSON.stringify(value));
  }
}

recordSecret(JWT_SECRET);
recordSecret(ENCRYPTION_KEYS.slice(ENCRYPTION_KEYS.indexOf(":") + 1));

export function binary(): string {
  return process.env["PATCHBAY_BIN"] ?? join(ROOT, "target", "debug", "patchbay");
}

function createdb(): string {
  for (const dir of (process.env["PATH"] ?? "").split(":")) {
    if (existsSync(join(dir, "createdb"))) {
      return join(dir, "createdb");
    }
  }
  const versions = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql").sort() : [];
  const newest = versions.at(-1);
  if (newest === undefined) {
    throw new Error("createdb not found: install PostgreSQL's client binaries");
  }
  return `/usr/lib/postgresql/${newest}/bin/createdb`;
}

/** A new, empty database on DATABASE_URL's server; its URL. */
export function freshDatabase(): string {
  const admin = process.env["DATABASE_URL"];
  if (admin === undefined) {
    throw new Error("DATABASE_URL is not set: run the tests through scripts/with-postgres");
  }
  const name = `tsclient_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  execFileSync(createdb(), [`--maintenance-db=${admin}`, name]);
  return `${admin.slice(0, admin.lastIndexOf("/"))}/${name}`;
}

/** `patchbay serve` as a child process; stop() then start() again keeps
 *  its gRPC port, as a restart does. */
export class Server {
  grpcPort = 0;
  httpAddr = "";
  private child: ChildProcess | undefined;
  private lines: string[] = [];
  private waiters: Array<() => void> = [];

  constructor(
    readonly database: string,
    readonly args: readonly string[] = [],
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.grpcPort}`;
  }

  async start(): Promise<this> {
    this.lines = [];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: this.database,
      PATCHBAY_JWT_SECRET: JWT_SECRET,
      PATCHBAY_ENCRYPTION_KEYS: ENCRYPTION_KEYS,
    };
    delete env["PATCHBAY_DATA_DIR"];
    const child = spawn(
      binary(),
      [
        "serve",
        "--grpc-addr",
        `127.0.0.1:${this.grpcPort}`,
        "--http-addr",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--log",
        "info,patchbay::status::bus=debug",
        "--provider-base-url",
        "github=http://127.0.0.1:9",
        ...this.args,
      ],
      { env, stdio: ["ignore", "ignore", "pipe"] },
    );
    this.child = child;
    if (child.stderr !== null) {
      createInterface({ input: child.stderr }).on("line", (line) => {
        record("log", line);
        this.lines.push(line);
        for (const wake of this.waiters.splice(0)) {
          wake();
        }
      });
    }
    const serving = JSON.parse(await this.waitFor('"serving"')) as {
      fields: { grpc_addr: string; http_addr: string };
    };
    this.grpcPort = Number(serving.fields.grpc_addr.split(":").at(-1));
    this.httpAddr = serving.fields.http_addr;
    return this;
  }

  /** The first log line containing `text`. */
  async waitFor(text: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find((line) => line.includes(text));
      if (found !== undefined) {
        return found;
      }
      if (Date.now() > deadline) {
        throw new Error(`no log line with ${text}:\n${this.lines.join("\n")}`);
      }
      await new Promise<void>((wake) => {
        this.waiters.push(wake);
        setTimeout(wake, 200);
      });
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) {
      return;
    }
    this.child = undefined;
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    child.kill("SIGTERM");
    await exited;
  }

  token(project = "acme", role = "owner"): string {
    const out = execFileSync(binary(), ["token", "--sub", "ts-tests", "--project", `${project}=${role}`], {
      env: { ...process.env, PATCHBAY_JWT_SECRET: JWT_SECRET },
    });
    const token = out.toString().trim().split("\n").at(-1) ?? "";
    recordSecret(token);
    return token;
  }
}
