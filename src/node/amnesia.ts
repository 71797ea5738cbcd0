import type { ChosenLog } from "../adapters/jetstream/chosen-log.js";
import type { AcceptorStore } from "../adapters/ports.js";
import type { ChosenEvent } from "../protocol/replies.js";

/**
 * Evidence that this acceptor lost its durable state (a wiped or replaced Redis), or null.
 * An acceptor that forgot its promises and accepts can let a second value be chosen, so it
 * must not vote again. A store claimed by this acceptor, or holding any of its keys, is its
 * own; an empty, unclaimed one is new, unless the chosen stream names this acceptor among
 * those that accepted a value: then it held state once and has lost it. (A loss with no such
 * announcement goes unseen: see README "Reliability".)
 */
export async function amnesiaEvidence(
  store: AcceptorStore, chosenLog: ChosenLog,
): Promise<ChosenEvent | null> {
  if (await store.identity() === store.acceptorId) return null;
  let cursor = "0";
  do {
    const page = await store.scanKeys(cursor, 1000);
    if (page.keys.length > 0) {
      await store.claimIdentity();
      return null;
    }
    cursor = page.cursor;
  } while (cursor !== "0");
  const evidence = await chosenLog.find((e) => e.acceptors?.includes(store.acceptorId) ?? false);
  if (evidence === null) await store.claimIdentity();
  return evidence;
}
