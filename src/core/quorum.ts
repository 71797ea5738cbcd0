import { assert } from "./assert.js";

/** A strict majority of the fixed, configured acceptor set. */
export function quorumSize(acceptorCount: number): number {
  assert(Number.isInteger(acceptorCount) && acceptorCount >= 1, "need at least one acceptor");
  return Math.floor(acceptorCount / 2) + 1;
}

/**
 * The fast quorum: how many acceptors must accept the fast ballot's value for it to be chosen.
 * Any two fast quorums and any majority share an acceptor (2F + majority > 2n), so a classic
 * round that hears a majority can tell which fast value may have been chosen: 3 of 3, 4 of 5.
 */
export function fastQuorumSize(acceptorCount: number): number {
  const majority = quorumSize(acceptorCount);
  return Math.floor((2 * acceptorCount - majority) / 2) + 1;
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
