// Browsers: gRPC-Web over fetch. The server must allow the page's origin
// (`patchbay serve --cors-origin`).

import { createGrpcWebTransport } from "@connectrpc/connect-web";

import { PatchbayClient } from "./client.js";
import { type ConnectOptions, DEFAULT_TIMEOUT_MS } from "./options.js";
import { DEFAULT_RETRY, policy } from "./policy.js";

export * from "./index.js";

export function connect(baseUrl: string, token: string, options: ConnectOptions = {}): PatchbayClient {
  return new PatchbayClient(
    createGrpcWebTransport({
      baseUrl,
      defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      interceptors: [policy(token, options.retry ?? DEFAULT_RETRY), ...(options.interceptors ?? [])],
    }),
  );
}
