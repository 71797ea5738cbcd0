import type { ServiceMsg } from "@nats-io/services";
import type { ChosenLog, ChosenRecord } from "../../adapters/jetstream/chosen-log.js";
import type { ReplicaStore } from "../../adapters/ports.js";
import { formatBallot } from "../../core/ballot.js";
import type { Chosen } from "../../core/learner.js";
import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import type { ChosenEvent, GetReply } from "../../protocol/replies.js";
import { keyMatchesFilter, type Operation } from "../../protocol/subjects.js";
import { sourceOf } from "./admission.js";
import { keyOf } from "./endpoint.js";
import { Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "../infrastructure/logger.js";
import type { ReadResult } from "../infrastructure/metrics.js";
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

/** Chosen values applied in one transaction at most (more wait for the next one). */
export const APPLY_BATCH_MAX = 1024;
/** While catching up, how long a partial batch waits for more messages before it is written. */
export const CATCH_UP_FLUSH_MS = 50;

/**
 * A read replica: the key → value store built from the chosen stream (from where it left off,
 * then live), serving `replica-get` from the store alone and `get` linearizably. With a key
 * filter (PAXOSKV_REPLICA_KEYS) it stores and serves only the keys that match (it reads every
 * batch of the log: a batch mixes keys).
 */
export class LearnerRole {
  /** Stream messages not yet applied (as JetStream reported with the last one). */
  lag = 0;
  /** True once the stream consumer is attached and has caught up at least once. */
  attached = false;
  readonly #stop = new AbortController();
  /** The most messages behind since the replica last caught up. */
  #behindMax = 0;
  /** Set after a follow's first catch-up: from then on only a long way back is worth a log. */
  #followingLive = false;
  /** Values read or learned but not yet in the store, and the last stream sequence among them. */
  #batch: Chosen[] = [];
  #batchSequence: number | null = null;
  #flushQueued = false;
  #flushTimer: NodeJS.Timeout | null = null;
  /** When the follower last stood at the stream's end (ms since the epoch). */
  #atEndAt = Number.NEGATIVE_INFINITY;
  /** Chosen events read from the stream since this process started (a resume reads only the new ones). */
  #streamed = 0;
  /** Ends the current consumer; null after a failed write, until the learner follows again. */
  #following: AbortController | null = null;
  /** Following failing again and again (JetStream down): logged while it lasts. */
  #notFollowing: Ongoing | null = null;
  /** The pending retry of a failed follow (cleared when a follow starts). */
  #retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly prefix: string,
    private readonly chosenLog: ChosenLog,
    /** The replica on disk; the node opens and closes it. */
    readonly replica: ReplicaStore,
    /** The keys this learner follows, stores and serves (a subject filter; `>` all). */
    private readonly replicaKeys: string,
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

  /** Follows the stream in the background, after the last sequence the replica applied. */
  start(): void {
    if (this.#stop.signal.aborted) return;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    this.#following?.abort(); // one consumer at a time
    this.#flush();
    const controller = new AbortController();
    this.#following = controller;
    const signal = AbortSignal.any([this.#stop.signal, controller.signal]);
    // Superseded by a newer follow (refollow, a retry): its end is not this learner's concern.
    // Aborted by a failed write (#following null): follow again.
    const superseded = () => this.#stop.signal.aborted ||
      (this.#following !== null && this.#following !== controller);
    // Retried every second while JetStream is down: one line per 30 s, not one per second.
    this.#notFollowing ??= new Ongoing(this.log, REPEAT_LOG_INTERVAL_MS);
    const notFollowing = this.#notFollowing;
    // A record that arrives after this follow was replaced belongs to no one.
    const onRecord = (record: ChosenRecord) => {
      if (!signal.aborted) this.#onRecord(record);
    };
    const following = this.chosenLog.follow(onRecord,
      (reason) => this.log.warn({ code: ErrorCode.BAD_REQUEST }, reason), signal,
      (attached) => {
        this.#followingLive = false;
        this.#behindMax = attached.pending;
        this.lag = Math.max(this.lag, attached.pending);
        if (attached.pending === 0) {
          this.attached = true;
          this.#atEndAt = Date.now();
        }
        const fields = { from: attached.from, pending: attached.pending,
          size: this.replica.size, keys: this.replicaKeys };
        if (notFollowing.active) notFollowing.ended(fields, "following the chosen stream again");
        else this.log.info(fields, "following the chosen stream");
      }, (stream) => {
        const held = this.replica.sequence;
        this.replica.follows(stream);
        if (held > 0 && this.replica.sequence === 0) {
          this.log.warn({ code: ErrorCode.UNAVAILABLE, held, stream },
            "the chosen stream was created anew since this replica applied it: reading it " +
            "from the start (the replica keeps its values)");
        }
        return { from: this.replica.sequence + 1 };
      });
    following.then(() => {
      if (superseded()) return;
      notFollowing.failed({ code: ErrorCode.UNAVAILABLE },
        "chosen stream consumer stalled or ended; following it again every 1 s");
      this.#followAgain();
    }, (err: unknown) => {
      if (superseded()) return;
      notFollowing.failed({ err, code: ErrorCode.UNAVAILABLE },
        "chosen stream consumer stopped; following it again every 1 s");
      this.#followAgain();
    });
  }

  /**
   * Follows the stream again: it was lost and made anew. The replica sees the new stream's
   * identity and reads it from its start (keeping every value it holds).
   */
  refollow(): void {
    if (this.#stop.signal.aborted) return;
    this.attached = false;
    this.start();
  }

  #onRecord(record: ChosenRecord): void {
    this.#streamed += record.events.length;
    // A write failed: what this consumer reads now is read again by the next one.
    const staging = this.#following !== null && !this.#stop.signal.aborted;
    for (const { key, value, ballot } of record.events) {
      const b = parseBallotText(ballot);
      if (b === null) {
        // Not taken, so not marked seen either: the acceptors' repair announces it properly.
        this.log.warn({ key, code: ErrorCode.BAD_REQUEST }, `chosen event with bad ballot ${ballot}`);
        continue;
      }
      if (staging) this.#stage(key, value, b);
      // Every key, this replica's or not: an acceptor on this node stops tracking it.
      this.onStreamed(key);
    }
    // The message's sequence goes with all of its events: one transaction, never half a batch.
    if (staging) {
      this.#batchSequence = record.sequence;
      this.#scheduleFlush(record.pending > 0);
    }
    const wasBehind = this.lag > 0;
    // Leaving the end: it stood there until this message came.
    if (!wasBehind && record.pending > 0 && this.attached) this.#atEndAt = Date.now();
    this.lag = record.pending;
    this.#behindMax = Math.max(this.#behindMax, this.lag);
    if (this.lag === 0) {
      this.attached = true;
      this.#atEndAt = Date.now();
    }
    if (wasBehind && this.lag === 0) {
      // Under load a live learner is a few messages behind and back many times a second:
      // logging each one (info, the default level) put a write on the hot path.
      if (!this.#followingLive || this.#behindMax >= CAUGHT_UP_LOG_BEHIND_MIN) {
        this.log.info({ size: this.replica.size + this.#batch.length, sequence: record.sequence,
          behind: this.#behindMax, streamed: this.#streamed }, "replica caught up");
      }
      this.#followingLive = true;
      this.#behindMax = 0;
    }
  }

  /**
   * A consumer that could not attach (JetStream unavailable for a moment) or stopped would
   * leave the replica frozen for the life of the process: follow again from the last sequence
   * applied (learning is idempotent), unless the learner is stopping.
   */
  #followAgain(): void {
    if (this.#stop.signal.aborted || this.#retry !== null) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.start();
    }, FOLLOW_RETRY_MS).unref();
  }

  /** Stops following and writes what it has read; the node closes the store after this. */
  stop(): void {
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#flush();
    this.#stop.abort();
  }

  /** Records a chosen value; a second, different value for a key is logged, never stored. */
  learn(key: string, value: string, ballot: string | Chosen["ballot"]): void {
    if (this.#stop.signal.aborted) return;
    this.#stage(key, value, ballot);
    this.#flush();
  }

  /**
   * When this learner last stood at the stream's end: every announcement made before then
   * has been read (now while it is there).
   */
  caughtUpAt(): number {
    return this.attached && this.lag === 0 ? Date.now() : this.#atEndAt;
  }

  /** The chosen event of `key` when the replica holds it. */
  known(key: string): ChosenEvent | undefined {
    const held = this.replica.get(key);
    return held === undefined ? undefined : chosenEventOf(held);
  }

  /** Adds a value to the next transaction (stream messages arrive in bursts: one per burst). */
  #stage(key: string, value: string, ballot: string | Chosen["ballot"]): void {
    const b = typeof ballot === "string" ? parseBallotText(ballot) : ballot;
    if (b === null) {
      this.log.warn({ key, code: ErrorCode.BAD_REQUEST }, `chosen event with bad ballot ${ballot}`);
    } else if (keyMatchesFilter(this.replicaKeys, key)) {
      // Outside the filter: not this replica's (a create or repair on this node may see one).
      this.#batch.push({ key, value, ballot: b });
    }
  }

  /** Writes the staged values once the current burst has been read, or at once when many. */
  #scheduleFlush(behind: boolean): void {
    if (this.#batch.length >= APPLY_BATCH_MAX) this.#flush();
    else if (!behind && !this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(() => this.#flush());
    } else if (behind && this.#flushTimer === null) {
      // Catching up: more messages are on their way, so wait for a full batch (one commit per
      // 1024 keys, not per pull of 100), but not for long if they stop coming.
      this.#flushTimer = setTimeout(() => this.#flush(), CATCH_UP_FLUSH_MS);
    }
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const batch = this.#batch;
    const sequence = this.#batchSequence;
    if (batch.length === 0 && sequence === null) return;
    this.#batch = [];
    this.#batchSequence = null;
    let results;
    try {
      results = this.replica.apply(batch, sequence);
    } catch (err) {
      // Nothing of the batch is stored (one transaction): follow again from the sequence
      // the store holds, so the stream delivers it again, instead of skipping it.
      this.log.error({ err, code: ErrorCode.INTERNAL, keys: batch.length },
        "cannot write the replica; reading the stream again from its last sequence");
      this.attached = false;
      this.#following?.abort();
      this.#following = null;
      return;
    }
    results.forEach((result, i) => {
      if (result.kind !== "conflict") return;
      const seen = batch[i] as Chosen;
      this.log.error({ key: seen.key, ballot: seen.ballot, held: result.held.value,
        seen: seen.value, code: ErrorCode.INTERNAL },
      "SAFETY VIOLATION: a second value for a chosen key; keeping the first");
    });
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
