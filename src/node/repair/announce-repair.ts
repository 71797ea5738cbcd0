import type { ChosenLog, ChosenRecord } from "../../adapters/jetstream/chosen-log.js";
import type { AcceptorMaintenanceStore } from "../../adapters/ports.js";
import { ErrorCode } from "../../protocol/codes.js";
import type { ChosenEvent } from "../../protocol/replies.js";
import { chosenEventOf, type Learned } from "../roles/learner-role.js";
import { Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "../infrastructure/logger.js";

export interface RepairOptions {
  /** Time between passes. */
  readonly intervalMs: number;
  /** Keys accepted more recently than this are left to the proposer still at work on them. */
  readonly minAgeSeconds: number;
  /** Keys looked at concurrently. */
  readonly batchSize: number;
}

export const DEFAULT_REPAIR: RepairOptions = { intervalMs: 10_000, minAgeSeconds: 3, batchSize: 64 };

/** What the repair needs of this node's learner, or of a follower of the log without one. */
export interface LogSight {
  /** When the follower last stood at the log's end: every announcement before it was read. */
  caughtUpAt(): number;
  /** The key's chosen event when this node holds it (its replica), else undefined. */
  known(key: string): ChosenEvent | undefined;
  /** Hands a value found by the repair to this node's replica (nothing without one). */
  learn(key: string, value: string, ballot: string): void;
}

/**
 * Makes every value this acceptor accepted reach the chosen log, even when its proposer
 * crashed between the accept phase and the announcement: at start and then periodically it
 * takes the keys its store holds as accepted-but-not-seen-on-the-log, and announces each one,
 * with the value this node's replica holds or else the one a quorum read (and read repair)
 * finds. The log cannot be asked about a key (it is not indexed by key): what this node has
 * read from it decides. Its learner, or without one a follower that keeps no values
 * (`AnnouncedWatch`), marks every key it reads as announced, so in steady state the work
 * list holds only keys whose announcement was lost; a pass waits until that follower has read
 * the log past the keys it takes up, so a key still on its way is not announced twice (which
 * would be harmless: learners take the same value again as a no-op).
 */
export class AnnouncementRepair {
  readonly #stop = new AbortController();
  #pass: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** Passes failing in a row (the store or JetStream down): logged while it lasts. */
  #failing: Ongoing | null = null;
  /** The follower of the log when this node has no learner. */
  readonly #watch: AnnouncedWatch | null;
  readonly #sight: LogSight;

  constructor(
    private readonly store: Pick<AcceptorMaintenanceStore, "unannounced" | "markAnnounced">,
    private readonly chosenLog: ChosenLog,
    private readonly resolve: (key: string) => Promise<Learned | null>,
    private readonly log: Logger,
    private readonly options: RepairOptions = DEFAULT_REPAIR,
    /** This node's learner, when it has one; else the repair follows the log itself. */
    learner: LogSight | null = null,
  ) {
    this.#watch = learner === null ? new AnnouncedWatch(chosenLog, store, log) : null;
    this.#sight = learner ?? this.#watch as AnnouncedWatch;
  }

  start(): void {
    this.#watch?.start();
    const loop = () => {
      this.#failing ??= new Ongoing(this.log, REPEAT_LOG_INTERVAL_MS);
      const failing = this.#failing;
      this.#pass = this.pass().then(
        () => failing.ended({}, "announcement repair passes work again"),
        (err: unknown) => failing.failed({ err, code: ErrorCode.UNAVAILABLE },
          "announcement repair pass failed")).finally(() => {
        if (!this.#stop.signal.aborted) this.#timer = setTimeout(loop, this.options.intervalMs);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#watch?.stop();
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#pass;
  }

  /**
   * One pass over the work list; returns the number of keys announced by it. Skipped while the
   * follower has not read the log up to a second before the keys it would take up (accepted
   * `minAgeSeconds` ago or earlier).
   */
  async pass(): Promise<number> {
    // Cheap (one stream info): a node of the version before may have set the old form back.
    await this.chosenLog.keepForm();
    const readUpTo = Date.now() - Math.max(0, this.options.minAgeSeconds * 1000 - 1000);
    if (this.#sight.caughtUpAt() < readUpTo) {
      this.log.debug({}, "announcement repair waits for this node's follower of the log");
      return 0;
    }
    let offset = 0;
    let announced = 0;
    while (!this.#stop.signal.aborted) {
      const keys = await this.store.unannounced(this.options.minAgeSeconds, offset,
        this.options.batchSize);
      if (keys.length === 0) break;
      const results = await Promise.all(keys.map((key) => this.#repair(key)));
      const settled = keys.filter((_k, i) => results[i] !== "failed");
      announced += results.filter((r) => r === "announced").length;
      await this.store.markAnnounced(settled);
      offset += keys.length - settled.length; // failed keys stay for the next pass
    }
    if (announced > 0) this.log.info({ announced }, "repaired lost announcements");
    return announced;
  }

  async #repair(key: string): Promise<"announced" | "not-chosen" | "failed"> {
    try {
      // What this node's replica holds is chosen: no quorum read needed to announce it.
      let event = this.#sight.known(key);
      if (event === undefined) {
        const learned = await this.resolve(key);
        // A majority holds nothing: our accept was a minority's; whoever completes it announces.
        if (learned === null) return "not-chosen";
        event = chosenEventOf(learned);
        this.#sight.learn(event.key, event.value, event.ballot);
      }
      // Together with the other keys of this pass: one acknowledged message.
      await this.chosenLog.announce(event);
      this.log.info({ key, ballot: event.ballot }, "announced a chosen value found by repair");
      return "announced";
    } catch (err) {
      this.log.debug({ err, key }, "repair of key failed; retrying next pass");
      return "failed";
    }
  }
}

/** How many messages back from the log's end a follower without a position starts. */
export const WATCH_LOOKBACK_MESSAGES = 1000;

/**
 * For an acceptor on a node without a learner: follows the log without keeping values and
 * marks every key it reads as announced, so the repair does not take them up. It starts a
 * little before the log's end (what was announced just before this process started) and
 * follows again where it stopped after a failure. A key it never saw is checked by the
 * repair (one quorum read), so being late here costs work, never correctness.
 */
export class AnnouncedWatch implements LogSight {
  readonly #stop = new AbortController();
  readonly #seen: AnnouncedBatcher;
  #stream: string | null = null;
  #next = 0;
  #atEnd = false;
  #atEndAt = Number.NEGATIVE_INFINITY;
  #failing: Ongoing | null = null;

  constructor(
    private readonly chosenLog: ChosenLog,
    store: Pick<AcceptorMaintenanceStore, "markAnnounced">,
    private readonly log: Logger,
    private readonly retryMs = 1000,
  ) {
    this.#seen = new AnnouncedBatcher(store, log);
  }

  start(): void {
    void this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#seen.stop();
  }

  caughtUpAt(): number {
    return this.#atEnd ? Date.now() : this.#atEndAt;
  }

  known(): undefined {
    return undefined;
  }

  learn(): void {
    // No replica on this node.
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      this.#failing ??= new Ongoing(this.log, REPEAT_LOG_INTERVAL_MS);
      const failing = this.#failing;
      try {
        await this.chosenLog.follow((record) => this.#onRecord(record),
          (reason) => this.log.warn({ code: ErrorCode.BAD_REQUEST }, reason), signal,
          (attached) => {
            this.#onPosition(attached.pending);
            failing.ended({ from: attached.from }, "following the chosen log for announcements");
          },
          (stream, last) => {
            if (stream !== this.#stream) {
              this.#stream = stream;
              this.#next = Math.max(1, last + 1 - WATCH_LOOKBACK_MESSAGES);
            }
            return { from: this.#next };
          });
      } catch (err) {
        if (signal.aborted) return;
        failing.failed({ err, code: ErrorCode.UNAVAILABLE },
          "cannot follow the chosen log for announcements; retrying every 1 s");
      }
      this.#atEnd = false;
      await new Promise((resolve) => setTimeout(resolve, this.retryMs).unref());
    }
  }

  #onRecord(record: ChosenRecord): void {
    for (const event of record.events) this.#seen.add(event.key);
    this.#next = record.sequence + 1;
    this.#onPosition(record.pending);
  }

  #onPosition(pending: number): void {
    if (this.#atEnd && pending > 0) this.#atEndAt = Date.now();
    this.#atEnd = pending === 0;
    if (this.#atEnd) this.#atEndAt = Date.now();
  }
}

/**
 * How long a node gathers the keys it saw on the stream before it tells its acceptor store
 * (one ZREM per bucket on a Redis Cluster store, so half a second's keys share them). The
 * repair takes up keys accepted 3 s ago once its follower has read the log up to 2 s ago, so a
 * key is taken up again only when its create plus this wait outlasts about 2 s (harmless:
 * announced twice).
 */
export const MARK_ANNOUNCED_EVERY_MS = 500;

/** Tells this node's acceptor store, in batches, which keys the stream now holds. */
export class AnnouncedBatcher {
  #keys: string[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Pick<AcceptorMaintenanceStore, "markAnnounced">,
    private readonly log: Logger,
  ) {}

  add(key: string): void {
    this.#timer ??= setTimeout(() => void this.#flush(), MARK_ANNOUNCED_EVERY_MS).unref();
    this.#keys.push(key);
  }

  /** Sends what is gathered (call before the store closes: else the repair announces it again). */
  async stop(): Promise<void> {
    await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const keys = this.#keys;
    this.#keys = [];
    if (keys.length === 0) return;
    // Best effort: a key left behind is checked, and removed, by the next repair pass.
    await this.store.markAnnounced(keys).catch((err: unknown) => {
      this.log.debug({ err }, "could not mark keys announced");
    });
  }
}
