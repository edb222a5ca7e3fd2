// Errors as Patchbay sends them: the gRPC code and message, and the
// google.rpc details decoded (ErrorInfo, BadRequest, RetryInfo).

import { Code, ConnectError } from "@connectrpc/connect";

import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";

export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/**
 * A failed call. `reason` is ErrorInfo's UPPER_SNAKE reason (for example
 * `CONNECTION_NOT_FOUND`), `metadata` its pairs, `fieldViolations`
 * BadRequest's and `retryAfterMs` RetryInfo's delay where the server named
 * one. It is a ConnectError, so code that handles those handles it.
 */
export class PatchbayError extends ConnectError {
  // `name` stays "ConnectError": ConnectError's own instanceof test looks at
  // it, and a PatchbayError must pass that test.
  readonly reason: string;
  readonly domain: string;
  readonly errorMetadata: Readonly<Record<string, string>>;
  readonly fieldViolations: readonly FieldViolation[];
  readonly retryAfterMs: number | undefined;

  constructor(from: ConnectError) {
    super(from.rawMessage, from.code, from.metadata, undefined, from.cause);
    this.details = from.details;
    const info = from.findDetails(ErrorInfoSchema)[0];
    this.reason = info?.reason ?? "";
    this.domain = info?.domain ?? "";
    this.errorMetadata = { ...(info?.metadata ?? {}) };
    this.fieldViolations = from
      .findDetails(BadRequestSchema)
      .flatMap((bad) =>
        bad.fieldViolations.map((v) => ({ field: v.field, description: v.description })),
      );
    const delay = from.findDetails(RetryInfoSchema)[0]?.retryDelay;
    this.retryAfterMs =
      delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6;
  }

  // ConnectError's instanceof test accepts any ConnectError, so one
  // inherited here would let undecoded errors pass for PatchbayErrors.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && PatchbayError.prototype.isPrototypeOf(value);
  }

  /** Any thrown value as a PatchbayError (unknown ones as UNKNOWN). */
  static of(reason: unknown): PatchbayError {
    if (reason instanceof PatchbayError) {
      return reason;
    }
    return new PatchbayError(ConnectError.from(reason, Code.Unknown));
  }
}
