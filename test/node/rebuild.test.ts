/**
 * The rebuild streams (one page of keys at a time, whatever the number of keys), stops once a
 * majority of acceptors was listed in full, and resumes where an unfinished one stopped.
 */
import { describe, expect, it } from "vitest";
import type { KeyPage } from "../../src/adapters/ports.js";
import type { Learned } from "../../src/node/roles/learner-role.js";
import {
  rebuildReplica, type RebuildDeps, type RebuildPosition,
} from "../../src/node/repair/rebuild.js";

const PAGE = 1000;
const KEYS = 20_000;
const keys = Array.from({ length: KEYS }, (_, i) => `k.${i}`);

/** Acceptors holding `keys`, listed PAGE at a time; `fail(id, cursor)` makes a page fail. */
function acceptors(fail: (id: string, cursor: string) => boolean = () => false) {
  const calls: [string, string][] = [];
  const listPage = async (id: string, cursor: string): Promise<KeyPage> => {
    calls.push([id, cursor]);
    await new Promise((resolve) => setImmediate(resolve));
    if (fail(id, cursor)) throw new Error(`${id} did not answer`);
    const at = Number(cursor);
    const end = at + PAGE;
    return { keys: keys.slice(at, end), cursor: end >= KEYS ? "0" : String(end) };
  };
  return { calls, listPage };
}

/** A replica holding every third key; resolve finds a value for even keys only. */
function replicaDeps(listPage: RebuildDeps["listPage"], saved: { at: RebuildPosition | null }) {
  const held = new Set(keys.filter((_k, i) => i % 3 === 0));
  /** Keys of the pages returned so far that the replica lacked and are not resolved yet. */
  const outstanding = new Set<string>();
  let outstandingMax = 0;
  const deps: RebuildDeps = {
    acceptors: ["A", "B", "C"],
    listPage: async (id, cursor) => {
      const page = await listPage(id, cursor);
      for (const key of page.keys) if (!held.has(key)) outstanding.add(key);
      outstandingMax = Math.max(outstandingMax, outstanding.size);
      return page;
    },
    wanted: () => true,
    has: (key) => held.has(key),
    resolve: async (key): Promise<Learned | null> => {
      await new Promise((resolve) => setImmediate(resolve));
      outstanding.delete(key);
      const i = Number(key.slice(2));
      return i % 2 === 0 ? { key, value: `v${i}`, ballot: { round: 1, nodeId: "A" } } : null;
    },
    learn: (learned) => held.add(learned.key),
    position: { load: () => saved.at, save: (p) => { saved.at = p; } },
  };
  return { deps, held, outstandingMax: () => outstandingMax };
}

describe("rebuild", () => {
  it("rebuild - a paced pass waits after each page that ran ahead of its keys a second, and " +
    "lists the same keys", async () => {
    const { listPage } = acceptors();
    const saved = { at: null as RebuildPosition | null };
    const { deps } = replicaDeps(listPage, saved);
    // A clock that moves only by the pass's own waits: every page ran ahead.
    let clock = 0;
    const waits: number[] = [];
    const report = await rebuildReplica({ ...deps, pace: {
      keysPerSecond: 4000, now: () => clock,
      sleep: (ms) => {
        waits.push(ms);
        clock += ms;
        return Promise.resolve();
      },
    } });
    // Two acceptors of 20,000 keys at 4,000 a second: 10 s of waits in all, 250 ms a page.
    expect(report.keysListed).toBe(2 * KEYS);
    expect(waits.length).toBe((2 * KEYS) / PAGE);
    expect(waits.every((ms) => ms === 250)).toBe(true);
    expect(clock).toBe(10_000);
    // Pages that took their time already are not held back.
    const slow = { at: null as RebuildPosition | null };
    let time = 0;
    const idle: number[] = [];
    const { deps: slowDeps } = replicaDeps(async (id, cursor) => {
      time += 1000; // each page takes a second: slower than the pace
      return listPage(id, cursor);
    }, slow);
    await rebuildReplica({ ...slowDeps, pace: { keysPerSecond: 4000, now: () => time,
      sleep: (ms) => {
        idle.push(ms);
        return Promise.resolve();
      } } });
    expect(idle).toEqual([]);
    // Once a rebuild is asked for, the paced one it joins stops waiting.
    let asked = false;
    const lifted: number[] = [];
    const { deps: liftedDeps } = replicaDeps(async (id, cursor) => {
      if (cursor === "5000") asked = true;
      return listPage(id, cursor);
    }, { at: null });
    await rebuildReplica({ ...liftedDeps, pace: { keysPerSecond: 4000, lifted: () => asked,
      now: () => 0, sleep: (ms) => {
        lifted.push(ms);
        return Promise.resolve();
      } } });
    expect(lifted.length).toBe(5); // the pages before it was asked for
  });

  it("rebuild - holds one page of keys at a time, and stops once a majority was listed",
    async () => {
      const { calls, listPage } = acceptors();
      const saved = { at: null as RebuildPosition | null };
      const { deps, held, outstandingMax } = replicaDeps(listPage, saved);
      const report = await rebuildReplica(deps);
      // Never more than one page's keys waiting: the next page is asked for only after
      // the previous one is done (collecting the listing first would hold all KEYS).
      expect(outstandingMax()).toBeLessThanOrEqual(PAGE);
      expect(calls.filter(([id]) => id === "C")).toEqual([]);
      expect(report).toMatchObject({ acceptorsListed: ["A", "B"], keysListed: 2 * KEYS,
        failed: 0, resumed: false });
      const lacked = keys.filter((_k, i) => i % 3 !== 0);
      expect(report.learned).toBe(lacked.filter((k) => Number(k.slice(2)) % 2 === 0).length);
      // Keys not chosen are asked again on B's listing (they are not in the replica).
      expect(report.notChosen).toBe(2 * lacked.filter((k) => Number(k.slice(2)) % 2 === 1).length);
      expect(held.size).toBe(KEYS - report.notChosen / 2);
      expect(saved.at).toBeNull(); // finished: nothing to resume
    });

  it("rebuild - one that stops without a majority is resumed from its last page", async () => {
    let bUp = false;
    const { calls, listPage } = acceptors((id, cursor) =>
      id === "C" || (id === "B" && !bUp && Number(cursor) >= 5 * PAGE));
    const saved = { at: null as RebuildPosition | null };
    const first = replicaDeps(listPage, saved);
    await expect(rebuildReplica(first.deps)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(saved.at).toEqual({ done: ["A"], acceptor: "B", cursor: String(5 * PAGE) });

    bUp = true;
    calls.length = 0;
    const report = await rebuildReplica(first.deps);
    expect(calls[0]).toEqual(["B", String(5 * PAGE)]); // not A again, not B from the start
    expect(calls.filter(([id]) => id === "A")).toEqual([]);
    expect(report).toMatchObject({ acceptorsListed: ["A", "B"], resumed: true,
      keysListed: KEYS - 5 * PAGE });
    expect(saved.at).toBeNull();
  });

  it("rebuild - a partial replica resolves only the keys it keeps", async () => {
    const { listPage } = acceptors();
    const saved = { at: null as RebuildPosition | null };
    const { deps } = replicaDeps(listPage, saved);
    const asked: string[] = [];
    const report = await rebuildReplica({
      ...deps, wanted: (key) => key.endsWith("7"),
      resolve: async (key) => {
        asked.push(key);
        return deps.resolve(key);
      },
    });
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((key) => key.endsWith("7"))).toBe(true);
    expect(report.failed).toBe(0);
  });
});
