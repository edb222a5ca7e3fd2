// Node: gRPC over HTTP/2.

import { createGrpcTransport } from "@connectrpc/connect-node";

import { PatchbayClient } from "./client.js";
import { type ConnectOptions, DEFAULT_TIMEOUT_MS } from "./options.js";
import { DEFAULT_RETRY, policy } from "./policy.js";

export * from "./index.js";

/** A client of the server at `baseUrl` (`http://host:port`, or https for
 *  TLS), calling with `token`. */
export function connect(baseUrl: string, token: string, options: ConnectOptions = {}): PatchbayClient {
  return new PatchbayClient(
    createGrpcTransport({
      baseUrl,
      defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      interceptors: [policy(token, options.retry ?? DEFAULT_RETRY), ...(options.interceptors ?? [])],
      // Pings no more often than strict servers allow; watch() finds dead
      // streams by their heartbeats.
      pingIntervalMs: 300_000,
      pingIdleConnection: false,
    }),
  );
}
