// Patchbay's TypeScript client. Connect with `connect()` from
// "@patchbay/client/node" (gRPC) or "@patchbay/client/web" (gRPC-Web).

export { PatchbayClient, paged, type ListOptions } from "./client.js";
export { PatchbayError, type FieldViolation } from "./errors.js";
export { type ConnectOptions, DEFAULT_TIMEOUT_MS } from "./options.js";
export { DEFAULT_RETRY, type RetryPolicy, backoffMs } from "./policy.js";
export { isResync, type Resync, type WatchOptions } from "./watch.js";
export * as v1 from "./v1.js";
