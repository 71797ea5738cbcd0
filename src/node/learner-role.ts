import type { ServiceMsg } from "@nats-io/services";
import type { ChosenLog } from "../adapters/jetstream/chosen-log.js";
import { formatBallot } from "../core/ballot.js";
import { LearnerReplica, type Chosen } from "../core/learner.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import type { ChosenEvent, GetReply } from "../protocol/replies.js";
import type { Operation } from "../protocol/subjects.js";
import { sourceOf } from "./admission.js";
import { keyOf } from "./endpoint.js";
import { Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "./logger.js";
import type { ReadResult } from "./metrics.js";
import type { ProposerDriver } from "./proposer-driver.js";
import type { QuorumReads } from "./quorum-reader.js";

/** A chosen value with the acceptors that accepted it, when known. */
export interface Learned extends Chosen {
  readonly acceptors?: readonly string[];
}

/**
 * Finds a key's chosen value for a linearizable read when the replica misses: a quorum read of
 * the acceptors, and read repair (a Paxos round that completes or supersedes a value accepted
 * by a minority) when the quorum is undecided. Null means a majority holds nothing.
 */
export async function resolveChosen(
  key: string, reader: QuorumReads, driver: ProposerDriver,
  count: (result: ReadResult) => void = () => undefined,
): Promise<Learned | null> {
  const read = await reader.read(key);
  switch (read.kind) {
    case "chosen":
      count("miss");
      return { key, value: read.value, ballot: read.ballot, acceptors: read.acceptors };
    case "absent":
      count("absent");
      return null;
    case "insufficient":
      count("failed");
      throw new PaxosKvError(ErrorCode.UNAVAILABLE,
        "no majority of acceptors answered the read; cannot tell whether the key exists");
    case "undecided": {
      count("repair");
      const outcome = await driver.propose(key, read.highest.value);
      if (outcome.kind === "chosen") {
        return { key, value: outcome.value, ballot: outcome.ballot, acceptors: outcome.acceptors };
      }
      throw new PaxosKvError(outcome.kind === "timeout" ? ErrorCode.TIMEOUT : ErrorCode.UNAVAILABLE,
        "a value is accepted by a minority and repairing it did not finish; retry the read");
    }
  }
}

/** A live learner that fell this many chosen events behind logs when it has caught up again. */
export const CAUGHT_UP_LOG_BEHIND_MIN = 1000;

/** How long a learner waits before following the chosen stream again after its consumer failed. */
export const FOLLOW_RETRY_MS = 1000;

/**
 * A read replica: the key → value map built from the chosen stream (from its start, then live),
 * serving `replica-get` from the map alone and `get` linearizably.
 */
export class LearnerRole {
  readonly replica = new LearnerReplica();
  /** Stream messages not yet applied (as JetStream reported with the last one). */
  lag = 0;
  /** True once the stream consumer is attached and has caught up at least once. */
  attached = false;
  readonly #stop = new AbortController();
  /** Ends the current follow only (`refollow`). */
  #current: AbortController | null = null;
  /** The most messages behind since the replica last caught up. */
  #behindMax = 0;
  /** Set after a follow's first catch-up: from then on only a long way back is worth a log. */
  #followingLive = false;
  /** Following failing again and again (JetStream down): logged while it lasts. */
  #notFollowing: Ongoing | null = null;

  constructor(
    private readonly prefix: string,
    private readonly chosenLog: ChosenLog,
    private readonly resolve: (key: string) => Promise<Learned | null>,
    private readonly announce: (learned: Learned) => void,
    /** Told each key read from the stream (an acceptor on this node stops tracking it). */
    private readonly onStreamed: (key: string) => void,
    private readonly log: Logger,
    private readonly count: (result: ReadResult) => void = () => undefined,
    /** Waits for a miss's turn to read the acceptors (FairAdmission); UNAVAILABLE if refused. */
    private readonly admitMiss: (source: string) => Promise<() => void> =
      () => Promise.resolve(() => undefined),
  ) {}

  /** Follows the stream in the background; resolves once it is attached. */
  start(): void {
    const current = new AbortController();
    this.#current = current;
    const signal = AbortSignal.any([this.#stop.signal, current.signal]);
    const following = this.chosenLog.follow((record) => {
      this.learn(record.event.key, record.event.value, record.event.ballot);
      this.onStreamed(record.event.key);
      const wasBehind = this.lag > 0;
      this.lag = record.pending;
      this.#behindMax = Math.max(this.#behindMax, this.lag);
      if (this.lag === 0) this.attached = true;
      if (wasBehind && this.lag === 0) {
        // Under load a live learner is a few messages behind and back many times a second:
        // logging each one (info, the default level) put a write on the hot path.
        if (!this.#followingLive || this.#behindMax >= CAUGHT_UP_LOG_BEHIND_MIN) {
          this.log.info({ size: this.replica.size, sequence: record.sequence,
            behind: this.#behindMax }, "replica caught up");
        }
        this.#followingLive = true;
        this.#behindMax = 0;
      }
    }, (reason) => this.log.warn({ code: ErrorCode.BAD_REQUEST }, reason), signal,
    (pending) => {
      this.#followingLive = false;
      this.#behindMax = pending;
      this.lag = Math.max(this.lag, pending);
      if (pending === 0) this.attached = true;
      if (this.#notFollowing?.active === true) {
        this.#notFollowing.ended({ pending }, "following the chosen stream again");
      } else {
        this.log.info({ pending }, "following the chosen stream");
      }
    });
    // Retried every second while JetStream is down: one line per 30 s, not one per second.
    this.#notFollowing ??= new Ongoing(this.log, REPEAT_LOG_INTERVAL_MS);
    const notFollowing = this.#notFollowing;
    following.then(() => {
      if (signal.aborted) return;
      notFollowing.failed({ code: ErrorCode.UNAVAILABLE },
        "chosen stream consumer stalled or ended; following it again every 1 s");
      this.#followAgain();
    }, (err: unknown) => {
      if (signal.aborted) return;
      notFollowing.failed({ err, code: ErrorCode.UNAVAILABLE },
        "chosen stream consumer stopped; following it again every 1 s");
      this.#followAgain();
    });
  }

  /**
   * A consumer that could not attach (JetStream unavailable for a moment) or stopped would
   * leave the replica frozen for the life of the process: follow again from the stream's
   * start (learning is idempotent), unless the learner is stopping.
   */
  #followAgain(): void {
    if (!this.#stop.signal.aborted) setTimeout(() => this.start(), FOLLOW_RETRY_MS).unref();
  }

  stop(): void {
    this.#stop.abort();
  }

  /** Follows the stream again from its start: it was lost and made anew. */
  refollow(): void {
    if (this.#stop.signal.aborted) return;
    this.#current?.abort();
    this.attached = false;
    this.start();
  }

  /** Records a chosen value; a second, different value for a key is logged, never stored. */
  learn(key: string, value: string, ballot: string | Chosen["ballot"]): void {
    const b = typeof ballot === "string" ? parseBallotText(ballot) : ballot;
    if (b === null) {
      this.log.warn({ key, code: ErrorCode.BAD_REQUEST }, `chosen event with bad ballot ${ballot}`);
      return;
    }
    const result = this.replica.learn({ key, value, ballot: b });
    if (result.kind === "conflict") {
      this.log.error({ key, ballot: b, held: result.held.value, seen: value, code: ErrorCode.INTERNAL },
        "SAFETY VIOLATION: a second value for a chosen key; keeping the first");
    }
  }

  /** `replica-get`: the replica alone; a miss may be stale. */
  async replicaGet(msg: ServiceMsg): Promise<GetReply> {
    const key = this.#keyOf("replica-get", msg);
    const held = this.replica.get(key);
    return held === undefined ? { ok: true, key, found: false } :
      { ok: true, key, found: true, value: held.value };
  }

  /** `get`: a replica hit is final; a miss is confirmed by a majority of acceptors. */
  async get(msg: ServiceMsg): Promise<GetReply> {
    const key = this.#keyOf("get", msg);
    const held = this.replica.get(key);
    if (held !== undefined) {
      this.count("hit");
      return { ok: true, key, found: true, value: held.value };
    }
    const release = await this.admitMiss(sourceOf(msg.reply));
    let learned: Learned | null;
    try {
      learned = await this.resolve(key);
    } finally {
      release();
    }
    if (learned === null) return { ok: true, key, found: false };
    this.learn(key, learned.value, learned.ballot);
    this.announce(learned);
    return { ok: true, key, found: true, value: learned.value };
  }

  #keyOf(op: Operation, msg: ServiceMsg): string {
    const key = keyOf(this.prefix, op, msg.subject);
    if (msg.data.length > 0) {
      throw new PaxosKvError(ErrorCode.BAD_REQUEST, `${op} takes an empty body`);
    }
    return key;
  }
}

/** Parses `round.nodeId` (the event's ballot form). */
export function parseBallotText(text: string): Chosen["ballot"] | null {
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{1,32})$/.exec(text);
  if (match === null) return null;
  const round = Number(match[1]);
  return Number.isSafeInteger(round) ? { round, nodeId: match[2] ?? "" } : null;
}

/** The stream's event for a learned value. */
export function chosenEventOf(learned: Learned): ChosenEvent {
  return {
    key: learned.key, value: learned.value, ballot: formatBallot(learned.ballot),
    ...(learned.acceptors !== undefined ? { acceptors: [...learned.acceptors] } : {}),
  };
}
