import {
  DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError,
  RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeJson } from "../nats/connection.js";
import { ChosenEventSchema, type ChosenEvent } from "../../protocol/replies.js";
import {
  CHOSEN_STREAM, keyOfSubject, logSubject, logWildcard, publicSubject,
} from "../../protocol/subjects.js";
import { BATCH_ITEMS_MAX, BatchEncoder, parseWire, WIRE_VERSION } from "../../protocol/wire.js";

/** How long one pull of the learner's consumer waits (its idle heartbeat is half of it). */
export const FOLLOW_PULL_EXPIRES_MS = 2000;

/** A batch of the log carries at most this many bytes (and `BATCH_ITEMS_MAX` events). */
export const LOG_BATCH_BYTES_MAX = 128 * 1024;

/** Where a follower starts: the stream sequence. */
export interface FollowFrom {
  readonly from: number;
}

/**
 * Where to start, given the stream's identity (its creation time; a sequence counts in one
 * stream only, and a stream created anew starts again at 1) and its last sequence now.
 */
export type StartOf = (stream: string, last: number) => FollowFrom;

/** A follower attached: where it started and how many of its messages were waiting. */
export interface Attached {
  readonly from: number;
  readonly pending: number;
}

/** The chosen events of one stream message, and how many messages remain behind it. */
export interface ChosenRecord {
  readonly events: readonly ChosenEvent[];
  readonly sequence: number;
  readonly pending: number;
}

export interface OpenOptions {
  /** Names this process's subject of the log (`<prefix>.log.<announcer>`): its node ID. */
  readonly announcer?: string;
  /** Told when an existing stream of the old form (one subject per key) was updated. */
  readonly onUpdated?: (was: string) => void;
}

/** An acknowledged announcement waiting for the batch that carries it. */
interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The chosen log: the JetStream stream `PAXOSKV_CHOSEN`, whose messages are batches of chosen
 * events (`{"v":1,"items":[event...]}`) under `<prefix>.log.<announcer>`, one subject per
 * announcing node and no per-subject limit, so the NATS servers keep no state per key. Every
 * event announced in one turn of the event loop goes into one message. Each event is also
 * published alone on core NATS, `<prefix>.chosen.<key>`, for live subscribers (captured by no
 * stream). A key may be announced more than once (two announcers, the repair): a learner takes
 * the same value again as a no-op, and a different one as a conflict it never stores.
 * A stream of the old form (`<prefix>.chosen.>`, one message per key) is updated in place;
 * its messages stay readable, by subject.
 */
export class ChosenLog {
  readonly #subject: string;
  readonly #encoder: BatchEncoder;
  /** Waiters of the events in the encoder, in order. */
  #waiters: Waiter[] = [];
  #flushQueued = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly prefix: string,
    private readonly options: OpenOptions,
  ) {
    this.#subject = logSubject(prefix, options.announcer ?? "any");
    const payloadMax = nc.info?.max_payload ?? 1024 * 1024;
    this.#encoder = new BatchEncoder(Math.min(LOG_BATCH_BYTES_MAX, payloadMax - 4096));
  }

  /** Creates the stream, or updates an existing one to the settings the log needs. */
  static async open(
    nc: NatsConnection, prefix: string, replicas = 1, options: OpenOptions = {},
  ): Promise<ChosenLog> {
    const jsm = await jetstreamManager(nc);
    const config = {
      name: CHOSEN_STREAM, subjects: [logWildcard(prefix)], storage: StorageType.File,
      retention: RetentionPolicy.Limits, max_msgs_per_subject: -1, discard: DiscardPolicy.Old,
      discard_new_per_subject: false, num_replicas: replicas, duplicate_window: 120_000_000_000,
    };
    try {
      await toLogForm(jsm, prefix, options);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) {
        throw err;
      }
      try {
        await jsm.streams.add(config);
      } catch (addErr) {
        // Another node created it at the same moment: fine, it has the same config.
        await jsm.streams.info(CHOSEN_STREAM).catch(() => { throw addErr; });
      }
    }
    return new ChosenLog(nc, jetstream(nc), jsm, prefix, options);
  }

  /**
   * Puts the stream back into the log's form if a node of the version before set it back
   * (it does so when it starts: its check wants one message per key). The acceptors' repair
   * calls this before each pass. A missing stream is left to the node's JetStream watch.
   */
  async keepForm(): Promise<void> {
    try {
      await toLogForm(this.jsm, this.prefix, this.options);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) {
        throw err;
      }
    }
  }

  /** Announces `event` and resolves once the stream has stored the batch that carries it. */
  announce(event: ChosenEvent): Promise<void> {
    return new Promise((resolve, reject) => this.#add(event, { resolve, reject }));
  }

  /**
   * Announces `event` without waiting for the stream: the hot path of a create. A batch that
   * is lost is found and announced again by the acceptors' repair of lost announcements.
   */
  announceQuietly(event: ChosenEvent): void {
    this.#add(event, null);
  }

  #add(event: ChosenEvent, waiter: Waiter | null): void {
    const body = JSON.stringify(event);
    try {
      this.nc.publish(publicSubject(this.prefix, "chosen", event.key), body);
    } catch {
      // Closed, or over max_payload: live subscribers miss this event (it is not the durable
      // copy; the batch below is, and what it loses the repair finds).
    }
    const full = this.#encoder.addEncoded(body);
    if (full !== null) this.#send(full, this.#takeWaiters());
    if (waiter !== null) this.#waiters.push(waiter);
    if (!this.#flushQueued) {
      // Every event announced in this turn of the event loop goes into one message.
      this.#flushQueued = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushQueued = false;
    const body = this.#encoder.take();
    if (body !== null) this.#send(body, this.#takeWaiters());
  }

  #takeWaiters(): Waiter[] {
    const waiters = this.#waiters;
    this.#waiters = [];
    return waiters;
  }

  /** One batch: acknowledged when someone waits for it, else fire and forget (the hot path). */
  #send(body: string, waiters: readonly Waiter[]): void {
    if (waiters.length === 0) {
      try {
        this.nc.publish(this.#subject, body);
      } catch {
        // Closed, or over max_payload: lost to the log, found by the repair.
      }
      return;
    }
    this.js.publish(this.#subject, body).then(
      () => { for (const w of waiters) w.resolve(); },
      (err: unknown) => { for (const w of waiters) w.reject(err); });
  }

  /**
   * Reads the stream from where `startOf` says for this stream (the first message when that is
   * past the stream's end, which only a stream created anew can be) and then follows it live,
   * until `signal` aborts. `onAttached` hears where it started and how many messages were
   * waiting. Malformed messages and events are reported to `onMalformed` and skipped.
   */
  async follow(
    onRecord: (record: ChosenRecord) => void, onMalformed: (reason: string) => void,
    signal: AbortSignal, onAttached: (attached: Attached) => void = () => undefined,
    startOf: StartOf = () => ({ from: 1 }),
  ): Promise<void> {
    const info = await this.jsm.streams.info(CHOSEN_STREAM);
    const last = info.state.last_seq;
    const start = startOf(info.created, last);
    const from = start.from > last + 1 ? 1 : start.from;
    if (from !== start.from) {
      onMalformed(`the replica has applied up to sequence ${start.from - 1} but the chosen ` +
        `stream ends at ${last} (created anew?): reading it from the start`);
    }
    // The whole stream: the log's batches mix keys, so a partial replica filters each event.
    const consumer = await this.js.consumers.get(CHOSEN_STREAM, from > 1
      ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }
      : { deliver_policy: DeliverPolicy.All });
    // Short pulls: the consumer notices a lost pull or a consumer lost with a crashed NATS
    // server after two missed heartbeats (expires / 2 each), so in seconds instead of ~30-60 s with
    // the 30 s default, during which the replica silently stopped following the stream.
    const messages = await consumer.consume({ expires: FOLLOW_PULL_EXPIRES_MS });
    onAttached({ from, pending: (await consumer.info(true)).num_pending });
    signal.addEventListener("abort", () => void messages.close(), { once: true });
    // Aborted while the consumer was being made (a refollow): the listener came too late.
    if (signal.aborted) void messages.close();
    // Watchdog: after crashes of NATS servers an ordered consumer can stay silent for good
    // while the stream grows (chaos seed 7). Behind and still for a few checks: close it, so
    // follow() returns and the learner follows again.
    let applied = 0;
    const stall = new StallDetector(FOLLOW_STALL_CHECKS);
    const watchdog = setInterval(() => {
      this.jsm.streams.info(CHOSEN_STREAM).then((info) => {
        if (stall.check(applied, info.state.last_seq)) void messages.close();
      }, () => undefined);
    }, FOLLOW_STALL_CHECK_MS);
    try {
      for await (const msg of messages) {
        applied = msg.seq;
        const read = chosenEventsOf(this.prefix, msg.subject, msg.data);
        for (const problem of read.malformed) {
          onMalformed(`${problem} at sequence ${msg.seq} on ${msg.subject}`);
        }
        // Even with no event, the record moves the follower's position past the message.
        onRecord({ events: read.events, sequence: msg.seq, pending: pendingOf(msg) });
      }
    } finally {
      clearInterval(watchdog);
    }
  }
}

/** Updates an existing stream to the log's form when it is not in it (throws when missing). */
async function toLogForm(
  jsm: JetStreamManager, prefix: string, options: OpenOptions,
): Promise<void> {
  const info = await jsm.streams.info(CHOSEN_STREAM);
  const subjects = [logWildcard(prefix)];
  if (isLogForm(info.config, subjects)) return;
  // The old form (one message per key under `chosen.>`, discard-new per subject), or a node
  // of that version set it back: the log's subjects, no per-subject limit. Messages already
  // stored keep their subjects and stay readable.
  await jsm.streams.update(CHOSEN_STREAM, {
    ...info.config, subjects, max_msgs_per_subject: -1, discard: DiscardPolicy.Old,
    discard_new_per_subject: false,
  });
  options.onUpdated?.(`subjects ${info.config.subjects.join(",")}, ` +
    `max_msgs_per_subject ${info.config.max_msgs_per_subject}, discard ${info.config.discard}`);
}

/** True when the stream has the log's subjects and no per-subject limit. */
function isLogForm(config: StreamConfig, subjects: readonly string[]): boolean {
  return config.subjects.length === subjects.length &&
    config.subjects.every((s, i) => s === subjects[i]) &&
    config.max_msgs_per_subject <= 0 && config.discard_new_per_subject !== true;
}

/** The events of one stream message, read by its subject, and what could not be read. */
export interface ReadEvents {
  readonly events: ChosenEvent[];
  readonly malformed: string[];
}

/**
 * Reads one message of the stream in either form: a batch under `<prefix>.log.>` (this
 * version), or one event under `<prefix>.chosen.<key>` (the form before it, kept readable).
 * A malformed event of a batch is skipped alone; the others are read.
 */
export function chosenEventsOf(prefix: string, subject: string, data: Uint8Array): ReadEvents {
  const json = decodeJson(data);
  if (keyOfSubject(prefix, "chosen", subject) !== null) {
    const parsed = parseWire(ChosenEventSchema, json);
    return parsed.success ? { events: [parsed.data], malformed: [] }
      : { events: [], malformed: ["malformed chosen event"] };
  }
  if (!subject.startsWith(logWildcard(prefix).slice(0, -1))) {
    return { events: [], malformed: ["a message on a subject that is not the log's"] };
  }
  if (typeof json !== "object" || json === null || !("v" in json) || json.v !== WIRE_VERSION ||
    !("items" in json) || !Array.isArray(json.items) || json.items.length > BATCH_ITEMS_MAX) {
    return { events: [], malformed: ["malformed batch of chosen events"] };
  }
  const events: ChosenEvent[] = [];
  const malformed: string[] = [];
  for (const [i, item] of (json.items as unknown[]).entries()) {
    const parsed = parseWire(ChosenEventSchema, item);
    if (parsed.success) events.push(parsed.data);
    else malformed.push(`malformed chosen event ${i} of a batch`);
  }
  return { events, malformed };
}

/** How often a follower compares its position with the stream's end. */
export const FOLLOW_STALL_CHECK_MS = 5000;
/** Checks in a row behind the stream's end without progress that mean the consumer is stuck. */
export const FOLLOW_STALL_CHECKS = 2;

/** Tells, check by check, whether a follower is stuck: behind the stream's end, not moving. */
export class StallDetector {
  #last = -1;
  #count = 0;

  constructor(private readonly limit: number) {}

  check(applied: number, streamLast: number): boolean {
    if (applied >= streamLast || applied !== this.#last) {
      this.#last = applied;
      this.#count = 0;
      return false;
    }
    return ++this.#count >= this.limit;
  }
}

function pendingOf(msg: JsMsg): number {
  return msg.info.pending;
}
