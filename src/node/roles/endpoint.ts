import type { ServiceMsg } from "@nats-io/services";
import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import { errorReply } from "../../protocol/replies.js";
import { keyOfSubject, validateKey, type Operation } from "../../protocol/subjects.js";
import type { Logger } from "../infrastructure/logger.js";

/**
 * Runs one client request: the handler's result is the JSON reply; a PaxosKvError becomes its
 * coded error reply, anything else INTERNAL. Never throws.
 */
export async function serve(
  msg: ServiceMsg, log: Logger, handler: () => Promise<unknown>,
): Promise<void> {
  let body: unknown;
  try {
    body = await handler();
  } catch (err) {
    const known = err instanceof PaxosKvError;
    const code = known ? err.code : ErrorCode.INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    if (known) log.debug({ code, subject: msg.subject }, message);
    else log.error({ err, code, subject: msg.subject }, "request failed");
    body = errorReply(code, message);
  }
  if (msg.reply !== undefined) msg.respond(JSON.stringify(body));
}

/** The valid key of a public request subject, or an INVALID_KEY error. */
export function keyOf(prefix: string, op: Operation, subject: string): string {
  const key = keyOfSubject(prefix, op, subject);
  if (key === null) throw new PaxosKvError(ErrorCode.INVALID_KEY, `no key in ${subject}`);
  const problem = validateKey(key);
  if (problem !== null) throw new PaxosKvError(ErrorCode.INVALID_KEY, problem);
  return key;
}
