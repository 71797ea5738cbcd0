/**
 * The one catalogue of error codes. Codes are born here and nowhere else (a test fails on a
 * code string anywhere else in src/): `ErrorCode` for what a client can receive on the wire
 * (documented in README.md, accepted by the reply schema), `OperatorCode` for what only an
 * operator sees, in logs and in the CLI's `paxoskv: CODE: message` (docs/operations.md).
 */
export const ErrorCode = {
  /** The request is malformed: not UTF-8, not the expected shape. */
  BAD_REQUEST: "BAD_REQUEST",
  /** The key is not dot-separated tokens of `A-Z a-z 0-9 _ - = :`, or is over 255 bytes. */
  INVALID_KEY: "INVALID_KEY",
  /** The value is over the configured maximum (64 KiB by default). */
  VALUE_TOO_LARGE: "VALUE_TOO_LARGE",
  /** Certainly not done: no Accept left the proposer (e.g. no majority of promises). */
  UNAVAILABLE: "UNAVAILABLE",
  /** Outcome unknown: an Accept went out without a majority answering; retry to resolve it. */
  TIMEOUT: "TIMEOUT",
  /** A bug or an unexpected failure inside the node. */
  INTERNAL: "INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);

/** Codes an operator meets at start-up or in the logs; never sent to a client. */
export const OperatorCode = {
  /** A `PAXOSKV_*` variable or a flag is invalid (the message names each one and why). */
  BAD_CONFIG: "BAD_CONFIG",
  /** The acceptor's Redis can lose acknowledged votes: not `appendonly yes` + `appendfsync always`. */
  NOT_DURABLE: "NOT_DURABLE",
  /** `nats-server` or `redis-server` is not on PATH (`paxoskv dev`, the tests). */
  MISSING_BINARY: "MISSING_BINARY",
  /**
   * The `paxoskv` command runs on a Node.js older than package.json's "engines". Written out
   * in src/cli/main.ts too, which must import nothing before its check (a test ties the two).
   */
  WRONG_RUNTIME: "WRONG_RUNTIME",
} as const;

export type OperatorCode = (typeof OperatorCode)[keyof typeof OperatorCode];

export const OPERATOR_CODES: readonly OperatorCode[] = Object.values(OperatorCode);

/** An error that crosses the wire as `{"ok":false,"error":{"code","message"}}`. */
export class PaxosKvError extends Error {
  override readonly name: string = "PaxosKvError";
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
