import type { AcceptorStore, Durability } from "../ports.js";
import { OperatorCode } from "../../protocol/codes.js";

/** The acceptor's Redis can lose acknowledged promises or accepts in a crash. */
export class NotDurableError extends Error {
  override readonly name = "NotDurableError";
  readonly code = OperatorCode.NOT_DURABLE;
}

/** Matches pino's `logger.warn(obj, msg)` (and `console.warn`). */
export interface DurabilityLog {
  warn(details: object, message: string): void;
}

const ADVICE = "Paxos safety needs promises and accepts to survive a crash: run this Redis " +
  "with `appendonly yes` and `appendfsync always`";

/**
 * Called by the node at start. A Redis that is not durable (or whose CONFIG cannot be read)
 * throws when `requireDurable` is set, otherwise is logged as a loud warning and tolerated
 * (handy for local experiments).
 */
export async function checkDurability(
  store: Pick<AcceptorStore, "acceptorId" | "durability">,
  options: { readonly requireDurable: boolean; readonly log: DurabilityLog },
): Promise<Durability> {
  let durability: Durability;
  try {
    durability = await store.durability();
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const message = `acceptor ${store.acceptorId}: cannot read the Redis persistence settings ` +
      `(${why}). ${ADVICE}`;
    if (options.requireDurable) throw new NotDurableError(message, { cause });
    options.log.warn({ acceptor: store.acceptorId, err: cause }, `UNSAFE: ${message}`);
    return { appendonly: false, appendfsync: "unknown", durable: false, version: "unknown" };
  }
  if (durability.durable) return durability;
  const message = `acceptor ${store.acceptorId}: Redis has appendonly=` +
    `${durability.appendonly ? "yes" : "no"} appendfsync=${durability.appendfsync}. ${ADVICE}`;
  if (options.requireDurable) throw new NotDurableError(message);
  options.log.warn({ acceptor: store.acceptorId, ...durability }, `UNSAFE: ${message}`);
  return durability;
}
