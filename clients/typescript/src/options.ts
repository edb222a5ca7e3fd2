import type { Interceptor } from "@connectrpc/connect";

import type { RetryPolicy } from "./policy.js";

export interface ConnectOptions {
  /** Each unary call's default deadline, retries included; streams have none. */
  readonly defaultTimeoutMs?: number;
  readonly retry?: RetryPolicy;
  /** Run inside the retry loop, once per attempt. */
  readonly interceptors?: readonly Interceptor[];
}

export const DEFAULT_TIMEOUT_MS = 10_000;
