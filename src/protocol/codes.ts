/**
 * Every error code a client can receive. Codes are born here and nowhere else; a test checks
 * that each one is documented in README.md and accepted by the reply schema.
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

/** An error that crosses the wire as `{"ok":false,"error":{"code","message"}}`. */
export class PaxosKvError extends Error {
  override readonly name: string = "PaxosKvError";
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
