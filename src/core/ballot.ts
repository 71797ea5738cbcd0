import { assert } from "./assert.js";

/**
 * A proposal ID `n`: a round number with the proposer's node ID as tie-breaker.
 * Totally ordered and globally unique as long as node IDs are unique.
 */
export interface Ballot {
  readonly round: number;
  readonly nodeId: string;
}

/** Node IDs are short ASCII tokens so that JS, Lua and the wire all order them the same way. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export function isValidNodeId(nodeId: string): boolean {
  return NODE_ID_PATTERN.test(nodeId);
}

export function ballot(round: number, nodeId: string): Ballot {
  assert(Number.isSafeInteger(round) && round >= 0, `ballot round must be a safe integer: ${round}`);
  assert(isValidNodeId(nodeId), `ballot node ID is invalid: ${nodeId}`);
  return { round, nodeId };
}

/** Byte order of ASCII IDs; `localeCompare` would not match Redis Lua. */
function compareIds(a: string, b: string): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders ballots; `null` (nothing promised or accepted) is below every ballot. */
export function compareBallots(a: Ballot | null, b: Ballot | null): -1 | 0 | 1 {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  return compareIds(a.nodeId, b.nodeId);
}

export function ballotsEqual(a: Ballot | null, b: Ballot | null): boolean {
  return compareBallots(a, b) === 0;
}

export function maxBallot(a: Ballot | null, b: Ballot | null): Ballot | null {
  return compareBallots(a, b) >= 0 ? a : b;
}

/**
 * The one fast ballot, below every classic ballot: any proposer may send Accept at it without a
 * Prepare (a fast round, see `proposer.ts`), and an acceptor takes it only while it has promised
 * nothing. Round 0 is reserved for it; classic rounds start at 1.
 */
export const FAST_BALLOT: Ballot = Object.freeze({ round: 0, nodeId: "fast" });

export function isFastBallot(b: Ballot): boolean {
  return b.round === 0;
}

/**
 * The proposer's next ballot: above every ballot it has seen, and never below `floorRound`
 * (a timestamp, as the seed suggests, so a fresh proposer starts above old rounds). Always a
 * classic ballot (round 1 or more).
 */
export function nextBallotAbove(seen: Ballot | null, nodeId: string, floorRound: number): Ballot {
  const round = Math.max(Math.floor(floorRound), seen === null ? 0 : seen.round + 1, 1);
  const next = ballot(round, nodeId);
  assert(compareBallots(next, seen) > 0, "next ballot must be above every ballot seen");
  return next;
}

/** `round.nodeId`, the form used in logs and traces. */
export function formatBallot(b: Ballot | null): string {
  return b === null ? "none" : `${b.round}.${b.nodeId}`;
}

/**
 * A ballot in `formatBallot`'s text form as the seed writes a proposal number: `(round, nodeId)`.
 * `maxRoundChars` elides a long round (a timestamp) to its last digits, as the page draws it.
 */
export function formatBallotPair(text: string, maxRoundChars = Infinity): string {
  const dot = text.indexOf(".");
  let round = text.slice(0, dot);
  if (round.length > maxRoundChars) round = `…${round.slice(-(maxRoundChars - 1))}`;
  return `(${round}, ${text.slice(dot + 1)})`;
}
