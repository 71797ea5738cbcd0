import type { AcceptorState } from "./acceptor.js";
import type { ProposalOutcome } from "./proposer.js";
import { quorumSize } from "./quorum.js";

/*
 * The rules of an acceptor's recovery (a rejoin after its store was lost, or a new store's first
 * claim), shared by the node (`src/node/repair/rejoin.ts`) and the simulator, which runs them as the
 * node does. The waits and the I/O stay in the node.
 */

/**
 * How many of the other acceptors a recovery must list whole: every majority that promised or
 * accepted together with the recovering acceptor holds quorum - 1 others, and a listing of
 * n - quorum + 1 others meets each of them (3 acceptors: both others; 5: three of the four).
 * A lone acceptor's majority is itself: there is no one else to list.
 */
export function listingsNeeded(acceptorCount: number): number {
  const quorum = quorumSize(acceptorCount);
  return quorum === 1 ? 0 : acceptorCount - quorum + 1;
}

/**
 * The keys a recovery must run a proposal for: every key any listed acceptor holds; null when
 * fewer listings than `listingsNeeded` were read (a chosen key might be missed).
 */
export function keysToRecover(
  acceptorCount: number, listings: readonly (readonly string[])[],
): Set<string> | null {
  if (listings.length < listingsNeeded(acceptorCount)) return null;
  const keys = new Set<string>();
  for (const listing of listings) for (const key of listing) keys.add(key);
  return keys;
}

/**
 * What a key's recovery proposal installs in the recovering store: the value chosen again at
 * the recovery's ballot (promised and accepted there), or only the promise when nothing could
 * have been chosen below it; null when the proposal ended without either (run it again).
 */
export function recoveredState(outcome: ProposalOutcome): AcceptorState | null {
  if (outcome.kind === "chosen") {
    return { promised: outcome.ballot, accepted: { ballot: outcome.ballot, value: outcome.value } };
  }
  if (outcome.kind === "empty") return { promised: outcome.ballot, accepted: null };
  return null;
}
