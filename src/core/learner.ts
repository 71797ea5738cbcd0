import { compareBallots, ballotsEqual, isFastBallot, type Ballot } from "./ballot.js";
import type { AcceptedProposal, ChosenProposal } from "./messages.js";
import { addVoter, fastQuorumSize, quorumSize } from "./quorum.js";

/** A value known to be chosen for a key. */
export interface Chosen {
  readonly key: string;
  readonly value: string;
  readonly ballot: Ballot;
}

export type LearnResult =
  | { readonly kind: "learned" }
  | { readonly kind: "known" }
  /** A second, different value for a key: Paxos safety is broken somewhere. */
  | { readonly kind: "conflict"; readonly held: Chosen };

/**
 * The learner's one rule: a chosen value never changes, so the first one learned for a key is
 * kept, the same one again is known, and a different one is reported, never stored. `held` is
 * what the replica holds for the key (its store is the node's: on disk, behind a port).
 */
export function decideLearn(held: Chosen | undefined, incoming: Chosen): LearnResult {
  if (held === undefined) return { kind: "learned" };
  return held.value === incoming.value ? { kind: "known" } : { kind: "conflict", held };
}

/** An in-memory replica under the same rule: the simulator's learners (a node's is on disk). */
export class LearnerReplica {
  readonly #chosen = new Map<string, Chosen>();

  learn(chosen: Chosen): LearnResult {
    const result = decideLearn(this.#chosen.get(chosen.key), chosen);
    if (result.kind === "learned") this.#chosen.set(chosen.key, chosen);
    return result;
  }

  get(key: string): Chosen | undefined {
    return this.#chosen.get(key);
  }

  get size(): number {
    return this.#chosen.size;
  }

  entries(): IterableIterator<Chosen> {
    return this.#chosen.values();
  }
}

/** One acceptor's answer to a read: what it has accepted for the key, if anything. */
export interface AcceptorReport {
  readonly from: string;
  readonly accepted: AcceptedProposal | null;
}

/**
 * What a read of the acceptors shows about a key:
 * - `chosen`: a majority accepted the same classic proposal, or a fast quorum the same value at
 *   the fast ballot, so its value is chosen;
 * - `absent`: a majority has accepted nothing, so nothing was chosen before the read;
 * - `undecided`: something was accepted but not by a majority: finish it by running Paxos;
 * - `insufficient`: fewer than a majority of distinct configured acceptors answered.
 */
export type QuorumRead =
  | ChosenProposal
  | { readonly kind: "absent" }
  | { readonly kind: "undecided"; readonly highest: AcceptedProposal }
  | { readonly kind: "insufficient" };

export function classifyQuorumRead(
  acceptors: readonly string[], reports: readonly AcceptorReport[],
): QuorumRead {
  const quorum = quorumSize(acceptors.length);
  let voters: readonly string[] = [];
  const distinct: AcceptorReport[] = [];
  for (const report of reports) {
    const next = addVoter(acceptors, voters, report.from);
    if (next !== voters) distinct.push(report);
    voters = next;
  }
  if (distinct.length < quorum) return { kind: "insufficient" };
  let highest: AcceptedProposal | null = null;
  for (const { accepted } of distinct) {
    if (accepted === null) continue;
    const same = distinct.filter((r) => r.accepted !== null &&
      ballotsEqual(r.accepted.ballot, accepted.ballot) && r.accepted.value === accepted.value);
    const needed = isFastBallot(accepted.ballot) ? fastQuorumSize(acceptors.length) : quorum;
    if (same.length >= needed) {
      return {
        kind: "chosen", value: accepted.value, ballot: accepted.ballot,
        acceptors: same.map((r) => r.from),
      };
    }
    if (compareBallots(accepted.ballot, highest?.ballot ?? null) > 0) highest = accepted;
  }
  if (highest === null) return { kind: "absent" };
  const empty = distinct.filter((r) => r.accepted === null).length;
  return empty >= quorum ? { kind: "absent" } : { kind: "undecided", highest };
}
