/**
 * The repair of lost announcements without a per-key lookup of the stream: it announces what
 * its acceptor still lists as unseen on the log, with the value this node's replica holds (no
 * quorum read) or else the one a quorum read finds, and only once this node's follower of the
 * log has read past those keys.
 */
import { expect, it, vi } from "vitest";
import type { ChosenLog } from "../../src/adapters/jetstream/chosen-log.js";
import {
  AnnouncedBatcher, AnnouncementRepair, MARK_ANNOUNCED_EVERY_MS, type LogSight,
} from "../../src/node/repair/announce-repair.js";
import type { Learned } from "../../src/node/roles/learner-role.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import type { ChosenEvent } from "../../src/protocol/replies.js";

const OPTIONS = { intervalMs: 60_000, minAgeSeconds: 3, batchSize: 2 };

/** A repair over a work list of `keys`, a log that may fail, and a sight of this node. */
function setUp(keys: string[], sight: Partial<LogSight>, failAnnounce = false) {
  const work = new Set(keys);
  const announced: ChosenEvent[] = [];
  const resolved: string[] = [];
  const learned: string[] = [];
  const store = {
    unannounced: (_age: number, offset: number, count: number) =>
      Promise.resolve([...work].slice(offset, offset + count)),
    markAnnounced: (done: readonly string[]) => {
      for (const k of done) work.delete(k);
      return Promise.resolve();
    },
  };
  const log = {
    keepForm: () => Promise.resolve(),
    announce: (event: ChosenEvent) => failAnnounce ? Promise.reject(new Error("no stream"))
      : Promise.resolve(void announced.push(event)),
  } as unknown as ChosenLog;
  const resolve = (key: string): Promise<Learned | null> => {
    resolved.push(key);
    return Promise.resolve(key.startsWith("absent") ? null
      : { key, value: `quorum-${key}`, ballot: { round: 5, nodeId: "B" } });
  };
  const repair = new AnnouncementRepair(store, log, resolve, createLogger("T", "silent"), OPTIONS, {
    caughtUpAt: () => Date.now(), known: () => undefined,
    learn: (key) => void learned.push(key), ...sight,
  });
  return { repair, work, announced, resolved, learned };
}

it("repair: a key this node's replica holds is announced from it, with no quorum read; " +
  "another is resolved, learned and announced; an absent one is dropped", async () => {
  const t = setUp(["held", "lost", "absent.1"], {
    known: (key) => key === "held" ? { key, value: "replica-v", ballot: "7.A" } : undefined,
  });
  expect(await t.repair.pass()).toBe(2);
  expect(t.resolved.sort()).toEqual(["absent.1", "lost"]);
  expect(t.learned).toEqual(["lost"]);
  expect(t.announced).toEqual([{ key: "held", value: "replica-v", ballot: "7.A" },
    { key: "lost", value: "quorum-lost", ballot: "5.B" }]);
  expect([...t.work]).toEqual([]);
});

it("repair: nothing happens while this node's follower has not read the log past the keys",
  async () => {
    // Last at the log's end 5 s ago: keys 3 s old may still be on their way to it.
    const t = setUp(["k1", "k2"], { caughtUpAt: () => Date.now() - 5000 });
    expect(await t.repair.pass()).toBe(0);
    expect([t.resolved, t.announced, [...t.work]]).toEqual([[], [], ["k1", "k2"]]);
  });

it("repair: a key whose announcement fails stays on the work list for the next pass",
  async () => {
    const t = setUp(["k1", "k2", "k3"], {}, true);
    expect(await t.repair.pass()).toBe(0);
    expect([...t.work].sort()).toEqual(["k1", "k2", "k3"]);
  });

it("batcher: keys seen within one interval reach the store in one call; stop sends what is " +
  "gathered at once (the store closes next)", async () => {
  vi.useFakeTimers();
  try {
    const calls: string[][] = [];
    const batcher = new AnnouncedBatcher({
      markAnnounced: (keys: readonly string[]) => Promise.resolve(void calls.push([...keys])),
    }, createLogger("T", "silent"));
    batcher.add("a");
    batcher.add("b");
    await vi.advanceTimersByTimeAsync(MARK_ANNOUNCED_EVERY_MS - 1);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([["a", "b"]]);
    batcher.add("c");
    await batcher.stop();
    expect(calls).toEqual([["a", "b"], ["c"]]);
    await vi.advanceTimersByTimeAsync(MARK_ANNOUNCED_EVERY_MS);
    expect(calls).toEqual([["a", "b"], ["c"]]); // nothing twice, nothing empty
  } finally {
    vi.useRealTimers();
  }
});
