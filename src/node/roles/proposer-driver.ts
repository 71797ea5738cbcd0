import { randomBytes } from "node:crypto";
import {
  ballotFloor, nextWakeAt, onReply, onTick, startProposal, type ProposalOutcome,
  type ProposalState, type ProposerConfig, type ProposerEvent, type ProposerStep,
} from "../../core/proposer.js";
import { isFastBallot, type Ballot } from "../../core/ballot.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../../core/messages.js";
import type { Random } from "../../core/random.js";
import { FAILPOINTS_ARMED, proposerFailpoints } from "../infrastructure/failpoint.js";
import type { Logger } from "../infrastructure/logger.js";

/** A running proposal as observers see it. */
export interface ProposalView {
  readonly key: string;
  /** Identifies one proposal (all its rounds) in traces and logs. */
  readonly traceId: string;
  readonly state: ProposalState;
}

/** Watches proposals (metrics, traces); called synchronously, so it must be cheap. */
export interface ProposerObserver {
  sent?(p: ProposalView, msg: ProposerToAcceptor): void;
  received?(p: ProposalView, reply: AcceptorToProposer): void;
  event?(p: ProposalView, event: ProposerEvent): void;
}

/**
 * A fast round pays off only when every acceptor answers: one that is down or stalled makes
 * each fast round wait a phase timeout before its classic round, and an Accept that left makes
 * a create that then fails `TIMEOUT` (outcome unknown) where a classic round would have known
 * it `UNAVAILABLE`. So a create starts fast only while this node's own traffic shows every
 * acceptor alive: each answered within FAST_RECENT_MS and none has left a message unanswered
 * for that long; and not for FAST_PAUSE_MS after a fast round timed out. An idle node starts
 * with a classic round. Classic rounds go to every acceptor, so their late replies show when a
 * silent acceptor is back. These are the defaults of PAXOSKV_FAST_RECENT_MS and
 * PAXOSKV_FAST_PAUSE_MS (`DriverConfig`).
 */
export const FAST_RECENT_MS = 200;
export const FAST_PAUSE_MS = 1000;

/**
 * How long a key's last ballot is remembered at least (see `ProposerDriver.#floors`): longer
 * than a client retries one create; memory is this window times the create rate, twice.
 */
export const FLOOR_MEMORY_MS = 10_000;

/** The core's limits, and when this node tries a fast round (defaults: the constants above). */
export interface DriverConfig extends ProposerConfig {
  readonly fastRecentMs?: number;
  readonly fastPauseMs?: number;
}

interface Running extends ProposalView {
  state: ProposalState;
  timer: NodeJS.Timeout | null;
  timerAt: number;
  readonly outcome: PromiseWithResolvers<ProposalOutcome>;
}

/**
 * Runs the core proposer against real time and a real network: one proposal per key at a
 * time in this process (a second create of the same key shares the running one's outcome),
 * replies routed by key, a timer at the core's next wake-up.
 */
export class ProposerDriver {
  readonly #running = new Map<string, Running>();
  #proposals = 0;
  /** Unique to this process's life: proposal IDs never repeat across restarts. */
  readonly #incarnation = randomBytes(9).toString("base64url");
  /**
   * The highest classic ballot used per key lately: a new proposal of the key goes above it.
   * Two generations swapped every FLOOR_MEMORY_MS keep it bounded by the recent keys, not all
   * of them, and keep a busy node's ballots near its clock (a floor shared by every key would
   * climb a round per proposal, past the clock under load).
   */
  #floors = new Map<string, Ballot>();
  #olderFloors = new Map<string, Ballot>();
  #floorsSwappedAt = 0;
  /** When each acceptor last answered this node. */
  readonly #heardAt = new Map<string, number>();
  /** Per acceptor: when the oldest message it has not answered since its last reply left. */
  readonly #waitingSince = new Map<string, number>();
  #fastPausedUntil = 0;

  constructor(
    private readonly config: DriverConfig,
    private readonly send: (msg: ProposerToAcceptor) => void,
    private readonly log: Logger,
    private readonly observers: readonly ProposerObserver[] = [],
    private readonly random: Random = { next: Math.random },
    private readonly now: () => number = Date.now,
  ) {}

  get inFlight(): number {
    return this.#running.size;
  }

  /** The proposal running for `key`, if any. */
  running(key: string): ProposalView | undefined {
    return this.#running.get(key);
  }

  /**
   * Runs Basic Paxos for `key` proposing `value`; resolves with the outcome, never rejects.
   * `onStart` hears the proposal's trace ID (the running one's, when it joins one). `fresh`:
   * the key is probably new (a create this node has not seen chosen), so a fast first round is
   * worth trying when every acceptor answers.
   */
  propose(key: string, value: string, onStart?: (p: ProposalView) => void, fresh = false):
    Promise<ProposalOutcome> {
    const existing = this.#running.get(key);
    if (existing?.state.ownValue === null) {
      // A recovery has no value to give a create: start ours once it ends.
      return existing.outcome.promise.then(() => this.propose(key, value, onStart, fresh));
    }
    if (existing !== undefined) {
      onStart?.(existing);
      return existing.outcome.promise;
    }
    return this.#start(key, value, onStart, fresh && this.#fastWorthIt());
  }

  #fastWorthIt(): boolean {
    const now = this.now();
    if (now < this.#fastPausedUntil) return false;
    const recentMs = this.config.fastRecentMs ?? FAST_RECENT_MS;
    return this.config.acceptors.every((a) =>
      now - (this.#heardAt.get(a) ?? -Infinity) < recentMs &&
      now - (this.#waitingSince.get(a) ?? now) < recentMs);
  }

  /**
   * A recovery for a rejoining acceptor: a majority promises a new ballot, and a value some
   * acceptor accepted is chosen again at it (`chosen`), or none was (`empty`). Joins a
   * proposal already running for the key, whose outcome serves as well.
   */
  recover(key: string): Promise<ProposalOutcome> {
    return this.#running.get(key)?.outcome.promise ?? this.#start(key, null);
  }

  #start(key: string, value: string | null, onStart?: (p: ProposalView) => void, fast = false):
    Promise<ProposalOutcome> {
    const count = (this.#proposals++).toString(36);
    const step = startProposal(this.config, key, value, this.now(),
      { id: `${this.#incarnation}.${count}`, above: this.#floorOf(key), fast });
    const running: Running = {
      key, traceId: `${this.config.nodeId}-${count}`,
      state: step.state, timer: null, timerAt: 0, outcome: Promise.withResolvers(),
    };
    this.#running.set(key, running);
    onStart?.(running);
    this.#apply(running, step);
    return running.outcome.promise;
  }

  /** Feeds an acceptor's reply to the proposal for its key, if one is running. */
  deliver(reply: AcceptorToProposer): void {
    if (this.config.acceptors.includes(reply.from)) { // a forged ID must not grow the map
      this.#heardAt.set(reply.from, this.now());
      this.#waitingSince.delete(reply.from);
    }
    const running = this.#running.get(reply.key);
    if (running === undefined) return;
    // A late reply to an earlier proposal of the key is not this proposal's: not traced as its.
    if (reply.proposalId === running.state.id) {
      for (const o of this.observers) o.received?.(running, reply);
    }
    this.#apply(running, onReply(this.config, running.state, reply, this.now(), this.random));
  }

  #floorOf(key: string): Ballot | null {
    return this.#floors.get(key) ?? this.#olderFloors.get(key) ?? null;
  }

  #noteBallot(state: ProposalState): void {
    const floor = ballotFloor(this.#floorOf(state.key), state);
    if (floor === null) return;
    const now = this.now();
    if (now - this.#floorsSwappedAt >= FLOOR_MEMORY_MS) {
      this.#olderFloors = this.#floors;
      this.#floors = new Map();
      this.#floorsSwappedAt = now;
    }
    this.#floors.set(state.key, floor);
  }

  /** Resolves once every running proposal has finished (for graceful shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#running.values()].map((r) => r.outcome.promise));
  }

  /** Logging is off the hot path unless debug is on: a child logger per step costs. */
  #logEvents(step: ProposerStep): void {
    const log = this.log.child({ key: step.state.key, ballot: step.state.ballot });
    for (const event of step.events) {
      if (event.type === "done") {
        log.debug({ outcome: event.outcome.kind, rounds: step.state.rounds }, "proposal done");
      } else {
        log.trace({ event: event.type }, event.type);
      }
    }
  }

  #apply(running: Running, step: ProposerStep): void {
    running.state = step.state;
    for (const event of step.events) {
      // A classic round begins: its ballot is the key's new floor (only then does it change).
      if (event.type === "prepare") this.#noteBallot(step.state);
      // A fast round timed out: some acceptor did not answer in time.
      if (event.type === "retry" && event.reason === "timeout" && isFastBallot(event.ballot)) {
        this.#fastPausedUntil = this.now() + (this.config.fastPauseMs ?? FAST_PAUSE_MS);
      }
    }
    if (FAILPOINTS_ARMED) proposerFailpoints(step);
    for (const msg of step.outbox) this.send(msg);
    if (step.outbox.length > 0) {
      for (const a of this.config.acceptors) {
        if (!this.#waitingSince.has(a)) this.#waitingSince.set(a, this.now());
      }
    }
    for (const o of this.observers) {
      for (const msg of step.outbox) o.sent?.(running, msg);
      for (const event of step.events) o.event?.(running, event);
    }
    if (step.events.length > 0 && this.log.isLevelEnabled("debug")) this.#logEvents(step);
    const wakeAt = nextWakeAt(step.state);
    if (wakeAt === null) {
      if (running.timer !== null) clearTimeout(running.timer);
      this.#running.delete(step.state.key);
      const outcome = step.state.outcome;
      if (outcome !== null) running.outcome.resolve(outcome);
      return;
    }
    if (running.timer !== null && running.timerAt === wakeAt) return;
    if (running.timer !== null) clearTimeout(running.timer);
    running.timerAt = wakeAt;
    running.timer = setTimeout(() => {
      running.timer = null;
      this.#apply(running, onTick(this.config, running.state, this.now(), this.random));
    }, Math.max(0, wakeAt - this.now()));
  }
}
