import type { ChosenLog } from "../adapters/jetstream/chosen-log.js";
import type { AcceptorMaintenanceStore } from "../adapters/ports.js";
import { ErrorCode } from "../protocol/codes.js";
import type { ChosenEvent } from "../protocol/replies.js";
import { chosenEventOf, type Learned } from "./learner-role.js";
import { Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "./logger.js";

export interface RepairOptions {
  /** Time between passes. */
  readonly intervalMs: number;
  /** Keys accepted more recently than this are left to the proposer still at work on them. */
  readonly minAgeSeconds: number;
  /** Keys looked at concurrently. */
  readonly batchSize: number;
}

export const DEFAULT_REPAIR: RepairOptions = { intervalMs: 10_000, minAgeSeconds: 3, batchSize: 64 };

/**
 * Makes every value this acceptor accepted reach the chosen stream, even when its proposer
 * crashed between the accept phase and the announcement: at start and then periodically it
 * takes the keys its store holds as accepted-but-not-seen-announced, and for each one not on
 * the stream finds the chosen value (quorum read, read repair) and announces it. Either way it
 * hands the value to this node's learner too: a key on the stream that the node never saw there
 * is one its consumer missed (a JetStream replica that fell behind without saying so).
 */
export class AnnouncementRepair {
  readonly #stop = new AbortController();
  #pass: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** Passes failing in a row (the store or JetStream down): logged while it lasts. */
  #failing: Ongoing | null = null;

  constructor(
    private readonly store: Pick<AcceptorMaintenanceStore, "unannounced" | "markAnnounced">,
    private readonly chosenLog: ChosenLog,
    private readonly resolve: (key: string) => Promise<Learned | null>,
    private readonly log: Logger,
    private readonly options: RepairOptions = DEFAULT_REPAIR,
    /** This node's learner, when it has one. */
    private readonly learnLocally: (event: ChosenEvent) => void = () => undefined,
  ) {}

  start(): void {
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
    if (this.#timer !== null) clearTimeout(this.#timer);
    await this.#pass;
  }

  /** One pass over the work list; returns the number of keys announced by it. */
  async pass(): Promise<number> {
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

  async #repair(key: string): Promise<"on-stream" | "announced" | "not-chosen" | "failed"> {
    try {
      const onStream = await this.chosenLog.lookup(key);
      if (onStream !== null) {
        this.learnLocally(onStream);
        return "on-stream";
      }
      const learned = await this.resolve(key);
      // A majority holds nothing: our accept was a minority's; whoever completes it announces.
      if (learned === null) return "not-chosen";
      const event = chosenEventOf(learned);
      this.learnLocally(event);
      const result = await this.chosenLog.announce(event);
      if (result === "announced") {
        this.log.info({ key, ballot: learned.ballot }, "announced a chosen value found by repair");
      }
      return "announced";
    } catch (err) {
      this.log.debug({ err, key }, "repair of key failed; retrying next pass");
      return "failed";
    }
  }
}

/** Tells this node's acceptor store, in batches, which keys the stream now holds. */
export class AnnouncedBatcher {
  #keys: string[] = [];

  constructor(
    private readonly store: Pick<AcceptorMaintenanceStore, "markAnnounced">,
    private readonly log: Logger,
  ) {}

  add(key: string): void {
    if (this.#keys.length === 0) setTimeout(() => this.#flush(), 100);
    this.#keys.push(key);
  }

  #flush(): void {
    const keys = this.#keys;
    this.#keys = [];
    // Best effort: a key left behind is checked, and removed, by the next repair pass.
    this.store.markAnnounced(keys).catch((err: unknown) => {
      this.log.debug({ err }, "could not mark keys announced");
    });
  }
}
