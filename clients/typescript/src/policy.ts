// What every call gets: the bearer token, one `requestId` for a call's
// every attempt, retries on UNAVAILABLE only (jittered exponential backoff,
// or the server's RetryInfo delay, within the call's deadline), and errors
// thrown as PatchbayError.

import { Code, type Interceptor } from "@connectrpc/connect";

import { PatchbayError } from "./errors.js";

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly multiplier: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 100,
  maxBackoffMs: 5000,
  multiplier: 2,
};

/** The wait before attempt `attempt + 1`; full jitter, so clients that
 *  failed together do not retry together. */
export function backoffMs(policy: RetryPolicy, attempt: number, serverSaysMs?: number): number {
  if (serverSaysMs !== undefined) {
    return serverSaysMs;
  }
  const ceiling = Math.min(
    policy.maxBackoffMs,
    policy.initialBackoffMs * policy.multiplier ** (attempt - 1),
  );
  return Math.random() * ceiling;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A copy of `message` with `requestId` filled when it has that field and
 *  the caller left it empty: a retry then never creates a second action. */
function withRequestId<M extends object>(message: M): M {
  if ("requestId" in message && message.requestId === "") {
    return { ...message, requestId: crypto.randomUUID() };
  }
  return message;
}

export function policy(token: string, retry: RetryPolicy): Interceptor {
  return (next) => async (req) => {
    if (!req.header.has("authorization")) {
      req.header.set("authorization", `Bearer ${token}`);
    }
    if (req.stream) {
      // Streams are not retried here: watch() resumes them.
      try {
        return await next(req);
      } catch (e) {
        throw PatchbayError.of(e);
      }
    }
    const request = { ...req, message: withRequestId(req.message) };
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(request);
      } catch (e) {
        const error = PatchbayError.of(e);
        if (error.code !== Code.Unavailable || attempt >= retry.maxAttempts) {
          throw error;
        }
        await sleep(backoffMs(retry, attempt, error.retryAfterMs), req.signal).catch(() => {
          throw error;
        });
      }
    }
  };
}
