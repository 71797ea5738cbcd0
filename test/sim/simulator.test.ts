import { describe, expect, it } from "vitest";
import { seededRandom } from "../../src/core/random.js";
import { chain, delaying, duplicating, lossy, partitioned, type Envelope } from "./network.js";
import { optionsFromSeed, scenarioName } from "./options.js";
import { runSeed } from "./run-seeds.js";

function traceOf(seed: number): string[] {
  const lines: string[] = [];
  runSeed(seed, null, (line) => lines.push(line));
  return lines;
}

describe("simulator", () => {
  it("sim - a seed replays exactly the same trace", () => {
    for (const seed of [1, 42, 777]) expect(traceOf(seed)).toEqual(traceOf(seed));
    expect(traceOf(1)).not.toEqual(traceOf(2));
  });

  it("sim - scenario names carry the topology and the faults", () => {
    const o = { ...optionsFromSeed(1), acceptorCount: 3, proposerCount: 2, keyCount: 1,
      lossPct: 20, dupPct: 0, delayTicksMax: 1, partitions: true, crashes: false,
      fastRounds: false, valueVariety: false, pausePct: 0, ballotFloor: true };
    expect(scenarioName(o)).toBe("a3p2k1-loss20-part");
    expect(scenarioName({ ...o, fastRounds: true })).toBe("a3p2k1-loss20-part-fast");
    expect(scenarioName({ ...o, valueVariety: true, pausePct: 10 }))
      .toBe("a3p2k1-loss20-part-vary-pause10");
  });

  it("sim - seeds cover every fault, and the trace shows each", () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      for (const line of traceOf(seed)) seen.add(line.split(" ")[1] ?? "");
    }
    for (const kind of ["deliver", "drop", "dup", "crash", "restart", "partition", "heal",
      "tick", "chosen", "observer:"]) {
      expect(seen, kind).toContain(kind);
    }
  });

  it("sim - fault proxies compose: partition, loss, duplication, delay", () => {
    const faults = { lossPct: 0, dupPct: 100, delayTicksMax: 5, partition: null };
    const proxy = chain(partitioned(faults), lossy(faults), duplicating(faults),
      delaying(faults));
    const env: Envelope = { from: "P1", to: "A", deliverAt: 10,
      msg: { type: "learn", key: "X", value: "3", ballot: { round: 1, nodeId: "P1" } } };
    const random = seededRandom(1);
    const copies = proxy(env, random, () => undefined);
    expect(copies).toHaveLength(2);
    for (const copy of copies) expect(copy.deliverAt).toBeGreaterThanOrEqual(10);
    for (const copy of copies) expect(copy.deliverAt).toBeLessThan(15);
    const cut = { ...faults, partition: new Map([["P1", 0], ["A", 1]]) };
    expect(chain(partitioned(cut), duplicating(cut))(env, random, () => undefined)).toEqual([]);
    expect(lossy({ ...faults, lossPct: 100 })(env, random, () => undefined)).toEqual([]);
  });
});
