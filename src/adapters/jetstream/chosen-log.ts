import {
  DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError,
  RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg,
} from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { decodeJson } from "../nats/connection.js";
import { ChosenEventSchema, type ChosenEvent } from "../../protocol/replies.js";
import { CHOSEN_STREAM, publicSubject, publicWildcard } from "../../protocol/subjects.js";
import { parseWire } from "../../protocol/wire.js";

/** How long one pull of the learner's consumer waits (its idle heartbeat is half of it). */
export const FOLLOW_PULL_EXPIRES_MS = 2000;

/** What happened to an announcement: the stream holds one message per key, the first one. */
export type AnnounceResult = "announced" | "already-announced";

/** Where a follower starts: the stream sequence, and the keys it follows (a subject filter). */
export interface FollowFrom {
  readonly from: number;
  readonly keys: string;
}

/**
 * Where to start, given the stream's identity (its creation time): a sequence counts in one
 * stream only, and a stream created anew (its store lost) starts again at 1.
 */
export type StartOf = (stream: string) => FollowFrom;

/** A follower attached: where it started and how many of its messages were waiting. */
export interface Attached {
  readonly from: number;
  readonly pending: number;
}

/** One chosen event read from the stream, and how many messages remain behind it. */
export interface ChosenRecord {
  readonly event: ChosenEvent;
  readonly sequence: number;
  readonly pending: number;
}

/**
 * The JetStream stream of chosen values. A key is chosen once, so the stream keeps one
 * message per subject and refuses a second (expected last subject sequence 0, `Nats-Msg-Id`
 * per key, and a per-subject limit with discard-new): any node that learns a value may
 * announce it, and the stream stays free of duplicates.
 */
export class ChosenLog {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly prefix: string,
  ) {}

  /** Creates the stream, or checks that the existing one has the settings safety needs. */
  static async open(nc: NatsConnection, prefix: string, replicas = 1): Promise<ChosenLog> {
    const jsm = await jetstreamManager(nc);
    const subjects = [publicWildcard(prefix, "chosen")];
    const config = {
      name: CHOSEN_STREAM, subjects, storage: StorageType.File,
      retention: RetentionPolicy.Limits, max_msgs_per_subject: 1, discard: DiscardPolicy.New,
      discard_new_per_subject: true, num_replicas: replicas, duplicate_window: 120_000_000_000,
    };
    try {
      const info = await jsm.streams.info(CHOSEN_STREAM);
      if (info.config.max_msgs_per_subject !== 1 || info.config.discard !== DiscardPolicy.New) {
        await jsm.streams.update(CHOSEN_STREAM, { ...info.config, ...config });
      }
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
    return new ChosenLog(nc, jetstream(nc), jsm, prefix);
  }

  /** Publishes `event` unless the stream already holds the key's chosen value. */
  async announce(event: ChosenEvent): Promise<AnnounceResult> {
    try {
      const ack = await this.js.publish(publicSubject(this.prefix, "chosen", event.key),
        JSON.stringify(event), { msgID: event.key, expect: { lastSubjectSequence: 0 } });
      return ack.duplicate ? "already-announced" : "announced";
    } catch (err) {
      if (isAlreadyThere(err)) return "already-announced";
      throw err;
    }
  }

  /**
   * Publishes `event` without waiting for the stream's acknowledgement: the hot path of a
   * create. The stream applies the same one-per-key expectations from the headers; an event
   * that is lost is found and re-announced by the acceptors' repair of lost announcements.
   */
  announceQuietly(event: ChosenEvent): void {
    const h = headers();
    h.set("Nats-Msg-Id", event.key);
    h.set("Nats-Expected-Last-Subject-Sequence", "0");
    this.nc.publish(publicSubject(this.prefix, "chosen", event.key), JSON.stringify(event),
      { headers: h });
  }

  /** The announced event of `key`, or null when the stream has none. */
  async lookup(key: string): Promise<ChosenEvent | null> {
    const stored = await this.jsm.streams.getMessage(CHOSEN_STREAM,
      { last_by_subj: publicSubject(this.prefix, "chosen", key) });
    if (stored === null) return null;
    const parsed = ChosenEventSchema.safeParse(decodeJson(stored.data));
    return parsed.success ? parsed.data : null;
  }

  /**
   * Reads the stream from where `startOf` says for this stream (the first message when that is
   * past the stream's end, which only a stream created anew can be) and then follows it live,
   * until `signal` aborts; only the chosen events of keys matching the start's filter.
   * `onAttached` hears where it started and how many messages were waiting. Malformed messages
   * are reported to `onMalformed` and skipped.
   */
  async follow(
    onRecord: (record: ChosenRecord) => void, onMalformed: (reason: string) => void,
    signal: AbortSignal, onAttached: (attached: Attached) => void = () => undefined,
    startOf: StartOf = () => ({ from: 1, keys: ">" }),
  ): Promise<void> {
    const info = await this.jsm.streams.info(CHOSEN_STREAM);
    const start = startOf(info.created);
    const last = info.state.last_seq;
    const from = start.from > last + 1 ? 1 : start.from;
    if (from !== start.from) {
      onMalformed(`the replica has applied up to sequence ${start.from - 1} but the chosen ` +
        `stream ends at ${last} (created anew?): reading it from the start`);
    }
    // An ordered consumer with one filter subject (nats-server 2.9 takes one; a list needs
    // 2.10): a partial replica reads only its keys' events.
    const consumer = await this.js.consumers.get(CHOSEN_STREAM, {
      filter_subjects: publicSubject(this.prefix, "chosen", start.keys),
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } :
        { deliver_policy: DeliverPolicy.All }),
    });
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
        const parsed = parseWire(ChosenEventSchema, decodeJson(msg.data));
        if (!parsed.success) {
          onMalformed(`malformed chosen event at sequence ${msg.seq} on ${msg.subject}`);
          continue;
        }
        onRecord({ event: parsed.data, sequence: msg.seq, pending: pendingOf(msg) });
      }
    } finally {
      clearInterval(watchdog);
    }
  }
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

function isAlreadyThere(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = err instanceof JetStreamApiError ? err.code :
    (err.cause instanceof JetStreamApiError ? err.cause.code : undefined);
  // Wrong last subject sequence: a message for the key exists. Per-subject discard-new says
  // the same in words ("maximum messages per subject exceeded").
  return code === JetStreamApiCodes.StreamWrongLastSequence ||
    /maximum messages per subject exceeded|wrong last sequence/i.test(err.message);
}
