/**
 * The chosen log on a real nats-server (also run on the 2.9 floor, scripts/test-nats-floor.sh):
 * events announced in one turn of the event loop go into one stream message under the
 * announcer's subject, bounded in count and bytes; each event is also published alone on
 * `paxoskv.chosen.<key>` for live subscribers, captured by no stream; a stream of the old form
 * (one message per key) is updated in place and its messages stay readable.
 */
import {
  DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChosenLog, LOG_BATCH_BYTES_MAX, type ChosenRecord,
} from "../../src/adapters/jetstream/chosen-log.js";
import type { ChosenEvent } from "../../src/protocol/replies.js";
import { CHOSEN_STREAM } from "../../src/protocol/subjects.js";
import { BATCH_ITEMS_MAX } from "../../src/protocol/wire.js";
import { poll } from "./support/cluster-tools.js";
import { cleanup, startNats, type ServerHandle } from "./support/servers.js";

let server: ServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNats();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await cleanup();
});

const eventOf = (key: string, value = `value of ${key}`): ChosenEvent =>
  ({ key, value, ballot: "1796554611805.T" });

/** Every stream message after `after`: subject and body. */
async function messagesAfter(after: number): Promise<{ subject: string; body: string }[]> {
  const last = (await jsm.streams.info(CHOSEN_STREAM)).state.last_seq;
  const out: { subject: string; body: string }[] = [];
  for (let seq = after + 1; seq <= last; seq++) {
    const msg = await jsm.streams.getMessage(CHOSEN_STREAM, { seq });
    if (msg !== null) out.push({ subject: msg.subject, body: msg.string() });
  }
  return out;
}

/** Follows the log from `from` until it has read `count` events (or fails after 10 s). */
async function follow(log: ChosenLog, from: number, count: number): Promise<ChosenRecord[]> {
  const records: ChosenRecord[] = [];
  const stop = new AbortController();
  let read = 0;
  const following = log.follow((r) => {
    records.push(r);
    read += r.events.length;
    if (read >= count) stop.abort();
  }, (reason) => { throw new Error(reason); }, stop.signal, undefined, () => ({ from }));
  const timer = setTimeout(() => stop.abort(), 10_000);
  await following;
  clearTimeout(timer);
  return records;
}

describe("chosen log - a stream of batches", () => {
  it("chosen log - events announced in one turn are one message under the announcer's " +
    "subject, and each is a live event of its own on paxoskv.chosen.<key>", async () => {
    const log = await ChosenLog.open(nc, "paxoskv", 1, { announcer: "T" });
    const live: string[] = [];
    const sub = nc.subscribe("paxoskv.chosen.>", {
      callback: (_e, m) => { live.push(m.subject); },
    });
    await nc.flush();
    const before = (await jsm.streams.info(CHOSEN_STREAM)).state.last_seq;
    const keys = Array.from({ length: 50 }, (_, i) => `turn.${i}`);
    for (const key of keys.slice(0, 49)) log.announceQuietly(eventOf(key));
    await log.announce(eventOf(keys[49] as string)); // acknowledged: the stream has them all
    const stored = await messagesAfter(before);
    expect(stored.map((m) => m.subject)).toEqual(["paxoskv.log.T"]);
    expect(JSON.parse(stored[0]?.body ?? "")).toEqual({ v: 1, items: keys.map((k) => eventOf(k)) });
    await poll("50 live events", async () => live.length >= 50 ? true : undefined);
    expect(live).toEqual(keys.map((k) => `paxoskv.chosen.${k}`));
    sub.unsubscribe();
    // The live subjects are no stream's: a publish there is not stored.
    const info = await jsm.streams.info(CHOSEN_STREAM);
    expect(info.config.subjects).toEqual(["paxoskv.log.>"]);
    expect(info.config.max_msgs_per_subject).toBeLessThanOrEqual(0);
    const ack = await jetstream(nc).publish("paxoskv.chosen.turn.0", "x").catch((e: unknown) => e);
    expect(ack).toBeInstanceOf(Error); // no stream listens there
  });

  it("chosen log - a turn with more than a batch holds is split by count and by bytes",
    async () => {
      const log = await ChosenLog.open(nc, "paxoskv", 1, { announcer: "T" });
      let before = (await jsm.streams.info(CHOSEN_STREAM)).state.last_seq;
      const many = Array.from({ length: BATCH_ITEMS_MAX + 10 }, (_, i) => eventOf(`count.${i}`));
      await Promise.all(many.map((e) => log.announce(e)));
      let stored = await messagesAfter(before);
      expect(stored.map((m) => (JSON.parse(m.body) as { items: unknown[] }).items.length))
        .toEqual([BATCH_ITEMS_MAX, 10]);
      before = (await jsm.streams.info(CHOSEN_STREAM)).state.last_seq;
      const big = Array.from({ length: 5 }, (_, i) => eventOf(`bytes.${i}`, "v".repeat(50_000)));
      await Promise.all(big.map((e) => log.announce(e)));
      stored = await messagesAfter(before);
      expect(stored.map((m) => (JSON.parse(m.body) as { items: unknown[] }).items.length))
        .toEqual([2, 2, 1]);
      for (const m of stored) expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(LOG_BATCH_BYTES_MAX);
    });

  it("chosen log - a follower reads each message's events together, with its sequence",
    async () => {
      const log = await ChosenLog.open(nc, "paxoskv", 1, { announcer: "T" });
      const from = (await jsm.streams.info(CHOSEN_STREAM)).state.last_seq + 1;
      const events = ["f.1", "f.2", "f.3"].map((k) => eventOf(k));
      await Promise.all(events.map((e) => log.announce(e)));
      const records = await follow(log, from, 3);
      expect(records).toEqual([{ events, sequence: from, pending: 0 }]);
    });
});

describe("chosen log - upgrading a stream of the old form", () => {
  it("chosen log - a stream of one message per key is updated in place; its messages and the " +
    "new batches are read in order", async () => {
    const prefix = "old";
    // What the version before made and wrote, on a server of its own (the stream name is
    // fixed, and the stream above is already of the new form).
    const other = await startNats();
    const oc = await connect({ servers: other.url });
    try {
      const ojsm = await jetstreamManager(oc);
      await ojsm.streams.add({
        name: CHOSEN_STREAM, subjects: [`${prefix}.chosen.>`], storage: StorageType.File,
        retention: RetentionPolicy.Limits, max_msgs_per_subject: 1, discard: DiscardPolicy.New,
        discard_new_per_subject: true, num_replicas: 1, duplicate_window: 120_000_000_000,
      });
      const js = jetstream(oc);
      const old = ["o.1", "o.2"].map((k) => eventOf(k));
      for (const e of old) await js.publish(`${prefix}.chosen.${e.key}`, JSON.stringify(e));
      const updates: string[] = [];
      const log = await ChosenLog.open(oc, prefix, 1,
        { announcer: "N", onUpdated: (was) => updates.push(was) });
      expect(updates).toEqual([`subjects ${prefix}.chosen.>, max_msgs_per_subject 1, discard new`]);
      const info = await ojsm.streams.info(CHOSEN_STREAM);
      expect(info.config).toMatchObject({ subjects: [`${prefix}.log.>`], discard: "old" });
      expect(info.config.max_msgs_per_subject).toBeLessThanOrEqual(0);
      expect(info.state.messages).toBe(2); // kept
      // Opened again (the next node): nothing to update.
      await ChosenLog.open(oc, prefix, 1, { announcer: "M", onUpdated: (was) => updates.push(was) });
      expect(updates).toHaveLength(1);
      const added = ["n.1", "n.2"].map((k) => eventOf(k));
      await Promise.all(added.map((e) => log.announce(e)));
      const records = await follow(log, 1, 4);
      expect(records.map((r) => [r.sequence, r.events.map((e) => e.key)]))
        .toEqual([[1, ["o.1"]], [2, ["o.2"]], [3, ["n.1", "n.2"]]]);
    } finally {
      await oc.close();
      await other.stop();
    }
  });
});
