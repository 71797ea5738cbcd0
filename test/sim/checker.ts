import type { AcceptorState } from "../../src/core/acceptor.js";
import {
  ballotsEqual, compareBallots, formatBallot, isFastBallot, type Ballot,
} from "../../src/core/ballot.js";
import type { LearnResult, QuorumRead } from "../../src/core/learner.js";
import type { ProposalOutcome } from "../../src/core/proposer.js";
import { fastQuorumSize, quorumSize } from "../../src/core/quorum.js";

/** A broken safety or liveness property; the run stops at the first one. */
export class Violation extends Error {
  override readonly name = "Violation";
}

function fail(message: string): never {
  throw new Violation(message);
}

interface Votes {
  readonly value: string;
  readonly voters: Set<string>;
}

export interface ChosenFact {
  readonly value: string;
  readonly ballot: Ballot;
}

/**
 * An omniscient observer of every acceptor: a value is chosen for a key once a majority of
 * the real acceptor set has accepted the same classic ballot, or a fast quorum the same value at
 * the fast ballot. Nothing here trusts the proposers.
 */
export class Observer {
  readonly chosen = new Map<string, ChosenFact>();
  readonly #votes = new Map<string, Map<string, Votes>>();
  readonly #quorum: number;
  readonly #fastQuorum: number;

  constructor(acceptorCount: number, private readonly checkAcceptorRules: boolean) {
    this.#quorum = quorumSize(acceptorCount);
    this.#fastQuorum = fastQuorumSize(acceptorCount);
  }

  /** Returns a newly chosen fact, if this step made one. */
  onAcceptorStep(
    acceptor: string, key: string, before: AcceptorState, after: AcceptorState,
  ): ChosenFact | null {
    if (this.checkAcceptorRules) checkAcceptorRules(acceptor, key, before, after);
    const accepted = after.accepted;
    if (accepted === null || accepted === before.accepted) return null;
    const byBallot = this.#votesOf(key);
    // Every proposer shares the fast ballot, so it may carry several values: count each apart.
    const fast = isFastBallot(accepted.ballot);
    const id = formatBallot(accepted.ballot);
    const votesId = fast ? `${id}=${accepted.value}` : id;
    const votes = byBallot.get(votesId) ?? { value: accepted.value, voters: new Set<string>() };
    byBallot.set(votesId, votes);
    if (votes.value !== accepted.value) {
      fail(`${key}: ballot ${id} carries two values, ${votes.value} and ${accepted.value}`);
    }
    votes.voters.add(acceptor);
    if (votes.voters.size < (fast ? this.#fastQuorum : this.#quorum)) return null;
    const held = this.chosen.get(key);
    if (held !== undefined) {
      if (held.value !== accepted.value) {
        fail(`${key}: two values chosen: ${held.value} at ${formatBallot(held.ballot)}, then ` +
          `${accepted.value} at ${id} by ${[...votes.voters].join(",")}`);
      }
      return null;
    }
    const fact = { value: accepted.value, ballot: accepted.ballot };
    this.chosen.set(key, fact);
    return fact;
  }

  /** A proposer may report "chosen" only for the value a majority really accepted. */
  onOutcome(proposer: string, key: string, outcome: ProposalOutcome): void {
    if (outcome.kind !== "chosen") return;
    const held = this.chosen.get(key);
    if (held === undefined || held.value !== outcome.value) {
      fail(`${key}: ${proposer} reports ${outcome.value} chosen at ` +
        `${formatBallot(outcome.ballot)}, but the acceptors chose ${held?.value ?? "nothing"}`);
    }
  }

  onLearn(learner: string, key: string, value: string, result: LearnResult): void {
    if (result.kind === "conflict") {
      fail(`${key}: learner ${learner} told ${value} after ${result.held.value}`);
    }
    const held = this.chosen.get(key);
    if (held?.value !== value) fail(`${key}: learner ${learner} told ${value}, not chosen`);
  }

  /** A quorum read must agree with what the acceptors really hold at that instant. */
  onRead(key: string, read: QuorumRead): void {
    const held = this.chosen.get(key);
    if (read.kind === "chosen" && held?.value !== read.value) {
      fail(`${key}: a quorum read saw ${read.value} chosen; chosen is ${held?.value ?? "nothing"}`);
    }
    if (read.kind === "absent" && held !== undefined) {
      fail(`${key}: a quorum read saw nothing, but ${held.value} is chosen`);
    }
  }

  #votesOf(key: string): Map<string, Votes> {
    let byBallot = this.#votes.get(key);
    if (byBallot === undefined) this.#votes.set(key, (byBallot = new Map()));
    return byBallot;
  }
}

/** "Prepare(n) succeeds only if n > promised; Accept(n) only if n >= promised". */
function checkAcceptorRules(
  acceptor: string, key: string, before: AcceptorState, after: AcceptorState,
): void {
  if (compareBallots(after.promised, before.promised) < 0) {
    fail(`${key}: acceptor ${acceptor} lowered its promise from ` +
      `${formatBallot(before.promised)} to ${formatBallot(after.promised)}`);
  }
  const a = after.accepted;
  const newlyAccepted = a !== null && !(before.accepted !== null &&
    ballotsEqual(a.ballot, before.accepted.ballot) && a.value === before.accepted.value);
  if (newlyAccepted && compareBallots(a.ballot, before.promised) < 0) {
    fail(`${key}: acceptor ${acceptor} accepted ${formatBallot(a.ballot)} below its promise ` +
      formatBallot(before.promised));
  }
  if (newlyAccepted && isFastBallot(a.ballot) && before.promised !== null) {
    fail(`${key}: acceptor ${acceptor} took fast value ${a.value} after promising ` +
      formatBallot(before.promised));
  }
}
