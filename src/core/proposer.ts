import { assert } from "./assert.js";
import {
  ballotsEqual, compareBallots, FAST_BALLOT, isFastBallot, maxBallot, nextBallotAbove, type Ballot,
} from "./ballot.js";
import type {
  AcceptedProposal, AcceptorToProposer, ChosenProposal, MsgAccept, MsgPrepare,
  ProposerToAcceptor,
} from "./messages.js";
import { addVoter, fastQuorumSize, majorityImpossible, quorumSize } from "./quorum.js";
import { randomInt, type Random } from "./random.js";

/** Limits of one proposal. Times are in ticks (the node uses milliseconds). */
export interface ProposerConfig {
  readonly nodeId: string;
  /** The fixed acceptor set; a quorum is a strict majority of it. */
  readonly acceptors: readonly string[];
  /** How long a phase waits for a majority before the proposal retries. */
  readonly phaseTimeoutTicks: number;
  /** Back-off before a retry is random in [1, min(max, base * 2^round)]. */
  readonly backoffBaseTicks: number;
  readonly backoffMaxTicks: number;
  /** After this long the proposal gives up with `unavailable` or `timeout`. */
  readonly deadlineTicks: number;
  readonly roundCountMax: number;
}

/**
 * How a proposal ended. `unavailable`: no Accept ever left this proposer, so its value was
 * certainly not chosen through it. `timeout`: an Accept went out without a majority answering,
 * so the value may still be chosen later; retrying the same create resolves it. `empty`: only
 * for a proposal without a value of its own (a rejoining acceptor's recovery): a majority
 * promised `ballot` and none had accepted a value that could have been chosen, so no value is
 * chosen below it.
 */
export type ProposalOutcome =
  | ChosenProposal
  | { readonly kind: "empty"; readonly ballot: Ballot; readonly acceptors: readonly string[] }
  | { readonly kind: "unavailable"; readonly rounds: number }
  | { readonly kind: "timeout"; readonly rounds: number };

/** `fast`: the first round may skip Prepare (see `startProposal`). */
export type ProposalPhase = "fast" | "prepare" | "accept" | "backoff" | "done";

export interface Promised {
  readonly from: string;
  readonly accepted: AcceptedProposal | null;
}

/** One proposal for one key: a single Basic Paxos attempt, retried until done. */
export interface ProposalState {
  /** Carried by every message it sends; only replies that echo it are counted. */
  readonly id: string;
  readonly key: string;
  /** Null for a recovery: it finishes any value accepted, and proposes none of its own. */
  readonly ownValue: string | null;
  readonly phase: ProposalPhase;
  readonly ballot: Ballot;
  /** The highest ballot seen in any reply; the next ballot goes above it. */
  readonly seen: Ballot;
  /** The value sent in phase 2 (own, or adopted from the highest accepted proposal). */
  readonly value: string | null;
  readonly promises: readonly Promised[];
  readonly accepts: readonly string[];
  readonly refusals: readonly string[];
  readonly startedAt: number;
  /** When the current phase times out, or when back-off ends. */
  readonly wakeAt: number;
  /** 1 for the first ballot; counts ballots tried. */
  readonly rounds: number;
  readonly acceptSent: boolean;
  readonly outcome: ProposalOutcome | null;
}

/** What the core asks the node to log. */
export type ProposerEvent =
  | { readonly type: "prepare"; readonly ballot: Ballot }
  | { readonly type: "accept"; readonly ballot: Ballot; readonly adopted: boolean }
  | {
    readonly type: "retry";
    readonly ballot: Ballot;
    readonly reason: "refused" | "timeout";
    readonly backoffTicks: number;
  }
  | { readonly type: "done"; readonly outcome: ProposalOutcome };

export interface ProposerStep {
  readonly state: ProposalState;
  /** Messages to send to every acceptor. */
  readonly outbox: readonly ProposerToAcceptor[];
  readonly events: readonly ProposerEvent[];
}

/** What a new proposal needs besides its key and value. */
export interface ProposalStart {
  /**
   * The proposal's identity: different from every other proposal whose replies can reach this
   * one (a process counter under an ID unique to the process incarnation).
   */
  readonly id: string;
  /**
   * The ballots this process used lately for the key (`ballotFloor`): the new ballot goes
   * above them, so one process does not use one classic ballot for two proposals of a key.
   * Defence in depth (the ID check alone keeps replies apart) and liveness: a second Prepare at
   * a ballot the acceptors already promised would only be refused.
   */
  readonly above?: Ballot | null;
  /** Start with a fast round (see `startProposal`). */
  readonly fast?: boolean;
}

/**
 * Starts a proposal: Prepare(n) to all acceptors, with n above `start.above` and at least `now`.
 * A null `value` starts a recovery (see `ProposalOutcome`'s `empty`).
 *
 * With `fast`, the first round is Fast Paxos's instead: Accept(FAST_BALLOT, value) with no
 * Prepare, one round trip. The value is chosen if a fast quorum (all 3 of 3, 4 of 5) takes it;
 * an acceptor takes it only while it has promised nothing. On any refusal that leaves no fast
 * quorum, or at the phase timeout, the proposal goes on with a classic round at once, whose
 * Phase 1 keeps a fast value that may have been chosen (see `valueToKeep`). Worth it only when
 * every acceptor answers: one silent acceptor costs a phase timeout.
 */
export function startProposal(
  config: ProposerConfig, key: string, value: string | null, now: number, start: ProposalStart,
): ProposerStep {
  assert(config.acceptors.length >= 1, "proposer needs acceptors");
  assert(start.id.length > 0, "a proposal needs an ID");
  // A floor at the last safe round leaves no ballot above it; the ID check keeps the proposal
  // safe without it, and the acceptors' refusals end it as for any exhausted key.
  const above = start.above ?? null;
  const seen = above !== null && above.round >= Number.MAX_SAFE_INTEGER ? null : above;
  if (start.fast === true && value !== null) return startFast(config, key, value, now, start.id, seen);
  const ballot = nextBallotAbove(seen, config.nodeId, now);
  const state: ProposalState = {
    id: start.id, key, ownValue: value, phase: "prepare", ballot, seen: ballot, value: null,
    promises: [], accepts: [], refusals: [], startedAt: now,
    wakeAt: now + Math.min(config.phaseTimeoutTicks, config.deadlineTicks), rounds: 1,
    acceptSent: false, outcome: null,
  };
  return { state, outbox: [prepareOf(state)], events: [{ type: "prepare", ballot }] };
}

/**
 * The floor for the process's next proposal of the key (`ProposalStart.above`) once `state` has
 * run: the highest classic ballot it used. The fast ballot is shared by design; the proposal ID
 * keeps fast rounds apart.
 */
export function ballotFloor(floor: Ballot | null, state: ProposalState): Ballot | null {
  return isFastBallot(state.ballot) ? floor : maxBallot(floor, state.ballot);
}

function startFast(
  config: ProposerConfig, key: string, value: string, now: number, id: string,
  seen: Ballot | null,
): ProposerStep {
  const state: ProposalState = {
    id, key, ownValue: value, phase: "fast", ballot: FAST_BALLOT,
    seen: maxBallot(seen, FAST_BALLOT) ?? FAST_BALLOT, value, promises: [], accepts: [],
    refusals: [], startedAt: now,
    wakeAt: now + Math.min(config.phaseTimeoutTicks, config.deadlineTicks), rounds: 1,
    acceptSent: true, outcome: null,
  };
  const accept: MsgAccept = { type: "accept", key, ballot: FAST_BALLOT, value, proposalId: id };
  return {
    state, outbox: [accept], events: [{ type: "accept", ballot: FAST_BALLOT, adopted: false }],
  };
}

/**
 * Feeds one acceptor reply. Only a reply that names this proposal counts: a late answer to an
 * earlier proposal of this process for the same key (another client's create, with another
 * value, at the same fast ballot) would otherwise be counted as a vote for this one. Replies of
 * this proposal for an earlier round only teach it higher ballots.
 */
export function onReply(
  config: ProposerConfig, state: ProposalState, msg: AcceptorToProposer, now: number,
  random: Random,
): ProposerStep {
  if (state.phase === "done" || msg.key !== state.key || msg.proposalId !== state.id) {
    return idle(state);
  }
  // A reply after its phase timed out (this process was paused, or the timer is late) is not
  // counted: a phase never lasts longer than the phase timeout, which a rejoining acceptor
  // relies on (it waits that long before it reads what the others hold).
  if (now >= state.wakeAt) return onTick(config, state, now, random);
  if (state.phase === "fast") return onFastReply(config, state, msg, now);
  if (msg.type === "nack") return onNack(config, state, msg.from, msg.phase, msg.ballot,
    msg.promised, now, random);
  if (compareBallots(msg.ballot, state.ballot) !== 0) return idle(state);
  if (msg.type === "promise" && state.phase === "prepare") {
    return onPromise(config, state, { from: msg.from, accepted: msg.accepted }, now);
  }
  if (msg.type === "accepted" && state.phase === "accept") {
    return onAccepted(config, state, msg.from, now);
  }
  return idle(state);
}

/** Advances time: phase timeouts, the end of back-off, and the overall deadline. */
export function onTick(
  config: ProposerConfig, state: ProposalState, now: number, random: Random,
): ProposerStep {
  if (state.phase === "done" || now < state.wakeAt) return idle(state);
  if (state.phase === "fast") return classicAfterFast(config, state, now, "timeout");
  // A back-off that ends at the deadline gives up instead of starting a round past it.
  if (state.phase === "backoff" && now < deadlineOf(config, state) && !ballotsExhausted(state)) {
    return beginRound(config, state, now);
  }
  return retry(config, state, now, random, "timeout");
}

/** When the node should call `onTick` next, or null when the proposal is done. */
export function nextWakeAt(state: ProposalState): number | null {
  return state.phase === "done" ? null : state.wakeAt;
}

function onPromise(
  config: ProposerConfig, state: ProposalState, promised: Promised, now: number,
): ProposerStep {
  const voters = addVoter(config.acceptors, state.promises.map((p) => p.from), promised.from);
  if (voters.length === state.promises.length) return idle(state);
  const promises = [...state.promises, promised];
  if (promises.length < quorumSize(config.acceptors.length)) {
    return idle({ ...state, promises });
  }
  const highest = valueToKeep(config.acceptors.length, promises);
  if (highest === null && state.ownValue === null) {
    const outcome: ProposalOutcome = {
      kind: "empty", ballot: state.ballot, acceptors: promises.map((p) => p.from),
    };
    return finish({ ...state, promises }, outcome, now);
  }
  const value = highest === null ? state.ownValue : highest.value;
  assert(value !== null, "phase 2 without a value");
  const next: ProposalState = {
    ...state, phase: "accept", promises, value, refusals: [], acceptSent: true,
    wakeAt: phaseEnd(config, state, now),
  };
  const accept: MsgAccept = {
    type: "accept", key: state.key, ballot: state.ballot, value, proposalId: state.id,
  };
  return {
    state: next,
    outbox: [accept],
    events: [{ type: "accept", ballot: state.ballot, adopted: highest !== null }],
  };
}

function onFastReply(
  config: ProposerConfig, state: ProposalState, msg: AcceptorToProposer, now: number,
): ProposerStep {
  if (msg.type === "accepted" && ballotsEqual(msg.ballot, FAST_BALLOT)) {
    return onAccepted(config, state, msg.from, now);
  }
  if (msg.type !== "nack" || msg.phase !== "accept" || !ballotsEqual(msg.ballot, FAST_BALLOT) ||
    state.accepts.includes(msg.from)) {
    return idle(state);
  }
  // The acceptor holds a promise or another fast value: it will never take ours.
  const seen = maxBallot(state.seen, msg.promised) ?? state.seen;
  const refusals = addVoter(config.acceptors, state.refusals, msg.from);
  const next: ProposalState = { ...state, seen, refusals };
  const n = config.acceptors.length;
  if (n - refusals.length >= fastQuorumSize(n)) return idle(next);
  return classicAfterFast(config, next, now, "refused");
}

/** A fast round that cannot succeed goes on as a classic round, without back-off. */
function classicAfterFast(
  config: ProposerConfig, state: ProposalState, now: number, reason: "refused" | "timeout",
): ProposerStep {
  if (now >= deadlineOf(config, state) || ballotsExhausted(state)) {
    return finish(state, { kind: "timeout", rounds: state.rounds }, now);
  }
  const next = beginRound(config, state, now);
  const retry: ProposerEvent = { type: "retry", ballot: state.ballot, reason, backoffTicks: 0 };
  return { ...next, events: [retry, ...next.events] };
}

function onAccepted(
  config: ProposerConfig, state: ProposalState, from: string, now: number,
): ProposerStep {
  const accepts = addVoter(config.acceptors, state.accepts, from);
  if (accepts === state.accepts) return idle(state);
  // The fast ballot's value is chosen only by a fast quorum, a classic one by a majority.
  const needed = isFastBallot(state.ballot) ? fastQuorumSize(config.acceptors.length)
    : quorumSize(config.acceptors.length);
  if (accepts.length < needed) return idle({ ...state, accepts });
  assert(state.value !== null, "accept phase without a value");
  const outcome: ProposalOutcome = {
    kind: "chosen", value: state.value, ballot: state.ballot, acceptors: accepts,
  };
  return finish({ ...state, accepts }, outcome, now);
}

function onNack(
  config: ProposerConfig, state: ProposalState, from: string, phase: "prepare" | "accept",
  rejected: Ballot, promised: Ballot, now: number, random: Random,
): ProposerStep {
  const seen = maxBallot(state.seen, promised) ?? state.seen;
  const current = compareBallots(rejected, state.ballot) === 0 && phase === state.phase;
  if (!current || votedFor(state, from) || compareBallots(promised, state.ballot) === 0) {
    // Not a refusal: a nack naming our own ballot echoes a duplicate Prepare the acceptor
    // already promised, and an acceptor's yes in this phase stays valid once given.
    return idle({ ...state, seen });
  }
  const refusals = addVoter(config.acceptors, state.refusals, from);
  const next: ProposalState = { ...state, seen, refusals };
  if (!majorityImpossible(config.acceptors.length, refusals.length)) return idle(next);
  return retry(config, next, now, random, "refused");
}

function votedFor(state: ProposalState, from: string): boolean {
  return state.phase === "prepare" ? state.promises.some((p) => p.from === from)
    : state.accepts.includes(from);
}

function retry(
  config: ProposerConfig, state: ProposalState, now: number, random: Random,
  reason: "refused" | "timeout",
): ProposerStep {
  const outOfTime = now >= deadlineOf(config, state);
  if (outOfTime || state.rounds >= config.roundCountMax || ballotsExhausted(state)) {
    const kind = state.acceptSent ? "timeout" : "unavailable";
    return finish(state, { kind, rounds: state.rounds }, now);
  }
  const ceiling = Math.min(config.backoffMaxTicks, config.backoffBaseTicks * 2 ** state.rounds);
  const backoffTicks = 1 + randomInt(random, Math.max(1, ceiling));
  const wakeAt = Math.min(now + backoffTicks, deadlineOf(config, state));
  return {
    state: { ...state, phase: "backoff", wakeAt },
    outbox: [],
    events: [{ type: "retry", ballot: state.ballot, reason, backoffTicks }],
  };
}

/**
 * No ballot is left above the highest seen: a round of 2^53 - 1 (only a forged message can
 * carry one) would make the next ballot unsafe. Give up instead of asserting.
 */
function ballotsExhausted(state: ProposalState): boolean {
  return state.seen.round >= Number.MAX_SAFE_INTEGER;
}

function beginRound(config: ProposerConfig, state: ProposalState, now: number): ProposerStep {
  const ballot = nextBallotAbove(state.seen, config.nodeId, now);
  const next: ProposalState = {
    ...state, phase: "prepare", ballot, seen: ballot, value: null, promises: [], accepts: [],
    refusals: [], wakeAt: phaseEnd(config, state, now), rounds: state.rounds + 1,
  };
  return { state: next, outbox: [prepareOf(next)], events: [{ type: "prepare", ballot }] };
}

function deadlineOf(config: ProposerConfig, state: ProposalState): number {
  return state.startedAt + config.deadlineTicks;
}

/** A phase times out after phaseTimeoutTicks, but never past the deadline (the caller's wait). */
function phaseEnd(config: ProposerConfig, state: ProposalState, now: number): number {
  return Math.min(now + config.phaseTimeoutTicks, deadlineOf(config, state));
}

function finish(state: ProposalState, outcome: ProposalOutcome, now: number): ProposerStep {
  return {
    state: { ...state, phase: "done", outcome, wakeAt: now },
    outbox: [],
    events: [{ type: "done", outcome }],
  };
}

function prepareOf(state: ProposalState): MsgPrepare {
  return { type: "prepare", key: state.key, ballot: state.ballot, proposalId: state.id };
}

/**
 * What Phase 2 must propose, given a majority's promises: the accepted proposal with the
 * highest ballot when that ballot is classic (one value per classic ballot). When it is the fast
 * ballot, promisers may report different values, and one was chosen only if a fast quorum took
 * it: v may have been if its reporters plus the acceptors not heard from reach a fast quorum
 * (at most one v can). Null: the proposer may propose its own value.
 */
export function valueToKeep(
  acceptorCount: number, promises: readonly Promised[],
): AcceptedProposal | null {
  const highest = highestAccepted(promises);
  if (highest === null || !isFastBallot(highest.ballot)) return highest;
  const unheard = acceptorCount - promises.length;
  const counts = new Map<string, number>();
  for (const { accepted } of promises) {
    if (accepted === null || !isFastBallot(accepted.ballot)) continue;
    const count = (counts.get(accepted.value) ?? 0) + 1;
    counts.set(accepted.value, count);
    if (count + unheard >= fastQuorumSize(acceptorCount)) return accepted;
  }
  return null;
}

/** The accepted proposal with the highest ballot among the promises, or null if none. */
export function highestAccepted(promises: readonly Promised[]): AcceptedProposal | null {
  let best: AcceptedProposal | null = null;
  for (const { accepted } of promises) {
    if (accepted !== null && compareBallots(accepted.ballot, best?.ballot ?? null) > 0) {
      best = accepted;
    }
  }
  return best;
}

function idle(state: ProposalState): ProposerStep {
  return { state, outbox: [], events: [] };
}
