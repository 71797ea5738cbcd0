import { assert } from "./assert.js";

/** A strict majority of the fixed, configured acceptor set. */
export function quorumSize(acceptorCount: number): number {
  assert(Number.isInteger(acceptorCount) && acceptorCount >= 1, "need at least one acceptor");
  return Math.floor(acceptorCount / 2) + 1;
}

/** Adds `from` to `voters` only if it is a configured acceptor not counted yet. */
export function addVoter(
  acceptors: readonly string[],
  voters: readonly string[],
  from: string,
): readonly string[] {
  if (!acceptors.includes(from) || voters.includes(from)) return voters;
  return [...voters, from];
}

/** True when `against` distinct acceptors already refused, so a majority can no longer form. */
export function majorityImpossible(acceptorCount: number, against: number): boolean {
  return acceptorCount - against < quorumSize(acceptorCount);
}
