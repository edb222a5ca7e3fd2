// watch(): a project's status updates, held across failures. A dropped
// stream is resumed from the last sequence number seen. When the server no
// longer keeps that position (RESUME_POSITION_EXPIRED) a fresh snapshot is
// taken, and a Resync marker is yielded before it so the caller knows to
// rebuild its view. A stream silent for more than twice the heartbeat
// interval is treated as dead and resumed.

import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";

import { PatchbayError } from "./errors.js";
import type { StatusUpdate } from "./gen/patchbay/v1/status_pb.js";
import {
  type StatusService,
  WatchProjectStatusRequestSchema,
} from "./gen/patchbay/v1/status_service_pb.js";

/** The watch lost its place: discard what was built from earlier
 *  updates; a full snapshot follows. */
export interface Resync {
  readonly kind: "resync";
  readonly oldestSeq: bigint | undefined;
}

export interface WatchOptions {
  /** The server's heartbeat interval; twice this in silence is a dead stream. */
  readonly heartbeatMs?: number;
  readonly includeTypes?: readonly string[];
  readonly resumeFrom?: bigint;
  /** Ends the watch. */
  readonly signal?: AbortSignal;
  readonly maxBackoffMs?: number;
}

const RESUMABLE = new Set<Code>([
  Code.Unavailable,
  Code.Unknown,
  Code.Internal,
  Code.Canceled,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
]);

function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

export async function* watch(
  status: Client<typeof StatusService>,
  project: string,
  options: WatchOptions = {},
): AsyncGenerator<StatusUpdate | Resync> {
  const name = project.startsWith("projects/") ? project : `projects/${project}`;
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  let last = options.resumeFrom;
  let backoff = 200;
  while (!options.signal?.aborted) {
    const stream = new AbortController();
    const stopOuter = (): void => stream.abort();
    options.signal?.addEventListener("abort", stopOuter, { once: true });
    let silent = false;
    let watchdog = setTimeout(() => {
      silent = true;
      stream.abort();
    }, 2 * heartbeatMs);
    const fed = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        silent = true;
        stream.abort();
      }, 2 * heartbeatMs);
    };
    try {
      const request = create(WatchProjectStatusRequestSchema, {
        project: name,
        resumeFrom: last,
        heartbeatInterval: create(DurationSchema, {
          seconds: BigInt(Math.floor(heartbeatMs / 1000)),
          nanos: (heartbeatMs % 1000) * 1_000_000,
        }),
        includeTypes: [...(options.includeTypes ?? [])],
      });
      for await (const update of status.watchProjectStatus(request, {
        signal: stream.signal,
        timeoutMs: 0,
      })) {
        fed();
        last = update.seq;
        backoff = 200;
        yield update;
      }
    } catch (e) {
      if (options.signal?.aborted) {
        return;
      }
      const error = PatchbayError.of(e);
      if (error.reason === "RESUME_POSITION_EXPIRED") {
        const oldest = error.errorMetadata["oldest_seq"];
        last = undefined;
        yield { kind: "resync", oldestSeq: oldest === undefined ? undefined : BigInt(oldest) };
        continue;
      }
      if (!RESUMABLE.has(error.code) && !silent) {
        throw error;
      }
    } finally {
      clearTimeout(watchdog);
      options.signal?.removeEventListener("abort", stopOuter);
      stream.abort();
    }
    await wait(backoff / 2 + (Math.random() * backoff) / 2, options.signal);
    backoff = Math.min(backoff * 2, options.maxBackoffMs ?? 5000);
  }
}

export function isResync(update: StatusUpdate | Resync): update is Resync {
  return "kind" in update && update.kind === "resync";
}
