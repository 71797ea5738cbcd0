import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  formatScale, readScale, shapeViolations, type ScaleResult, type ScaleSample,
} from "../../src/bench/scale.js";
import { scaleSvg } from "../../src/bench/scale-graph.js";

const N = 100_000;

/** A run whose nodes' live heap and RSS at each tenth are `live(keys)` and `rss(keys)`. */
function run(live: (keys: number) => number, rss: (keys: number) => number,
  restart: Partial<ScaleResult["restart"]> = {}): ScaleResult {
  const samples: ScaleSample[] = Array.from({ length: 11 }, (_, i) => {
    const keys = (N * i) / 10;
    return {
      keys, seconds: i, createsPerSec: 5000, p50Ms: 30, p99Ms: 70, errors: 0,
      nodes: ["A", "B", "C"].map((id) => ({
        id, rssMb: rss(keys), cpuSeconds: keys / 5000, heapUsedMb: 60, heapLiveMb: live(keys), heapTotalMb: 150,
        externalMb: 8, replicaDiskMb: keys * 130 / 1e6, replicaKeys: keys,
      })),
      acceptors: [{ id: "A", usedMemoryMb: 1 + keys * 240 / 1e6, bytesPerKey: 240 }],
      natsRssMb: [20],
    };
  });
  return {
    when: "2026-12-06T00:00:00.000Z",
    options: { keys: N, valueBytes: 24, concurrency: 256, natsServers: 1, acceptors: "redis",
      rebuild: false },
    samples, errors: 0, rebuild: null,
    restart: { node: "C", readyMs: 500, caughtUpMs: 600, appliedBefore: 3000, from: 3001,
      pending: 0, rssMb: 115,
      ...restart },
  };
}

describe("scale shape", () => {
  it("scale - a flat run keeps the shape", () => {
    expect(shapeViolations(run(() => 26, (k) => 120 + Math.min(k, 40_000) / 400))).toEqual([]);
  });

  it("scale - a live heap growing by a Map entry per key breaks it", () => {
    // 150 B per key, about what a Map of every key and value costs.
    const violations = shapeViolations(run((k) => 26 + (k * 150) / 1e6, () => 150));
    expect(violations).toHaveLength(3);
    expect(violations[0]).toMatch(/^node A: live heap 41\.0 MB at 100000 keys > 35\.0 MB allowed \(29\.0 MB at 20000/);
  });

  it("scale - RSS growing past 1.5x its 20 % value plus 128 MB breaks it", () => {
    expect(shapeViolations(run(() => 26, (k) => 100 + k / 250))[0])
      .toBe("node A: RSS 500 MB at 100000 keys > 398 MB allowed (180 MB at 20000 keys)");
  });

  it("scale - a restart that replays, or is slow, breaks it", () => {
    expect(shapeViolations(run(() => 26, () => 150, { from: 1, pending: N }))).toEqual([
      `restart of C read the stream from 1 with ${N} pending (it had applied up to 3000): ` +
      "not a resume"]);
    expect(shapeViolations(run(() => 26, () => 150, { readyMs: 12_000 }))).toEqual([
      "restart of C: ready in 12000 ms > 10000"]);
  });

  it("scale - the graph has a series for every node and NATS server", () => {
    const svg = scaleSvg(run(() => 26, () => 150));
    for (const label of ["node A RSS", "node C V8 live heap", "nats-server RSS", "creates/s"]) {
      expect(svg).toContain(label);
    }
  });

  it("scale - each tenth shows the CPU per create of every kind of process; a run recorded " +
    "before (nodes only) still shows the nodes'", () => {
    const flat = run(() => 26, () => 150);
    // Per tenth of 10,000 creates: nodes 3 x 2 s, Redis 1.5 s + 0.5 s of rewrites, NATS 0.3 s,
    // the bench client 0.4 s.
    const measured: ScaleResult = { ...flat, samples: flat.samples.map((sample, i) => ({
      ...sample,
      acceptors: sample.acceptors.map((a) =>
        ({ ...a, cpuSeconds: 1.5 * i, childCpuSeconds: 0.5 * i })),
      natsCpuSeconds: [0.3 * i], clientCpuSeconds: 0.4 * i,
    })) };
    const row = (r: ScaleResult, keys: string) =>
      formatScale(r).split("\n").find((line) => line.startsWith(`| ${keys} |`))?.split(" | ")[4];
    expect(row(measured, "20,000")).toBe("600, 200 (50), 30, 40");
    expect(row(flat, "20,000")).toBe("600");
    expect(row(measured, "0")).toBe("");
  });

  it("scale - --from reads a run back, and refuses what is not one with the reason", () => {
    const dir = mkdtempSync(join(tmpdir(), "paxoskv-scale-"));
    const good = join(dir, "run.json");
    writeFileSync(good, JSON.stringify(run(() => 26, () => 150)));
    expect(readScale(good).options.keys).toBe(N);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '{"a":1}');
    expect(() => readScale(bad)).toThrow(/is not the JSON of a `bench --scale` run/);
    expect(() => readScale(join(dir, "missing.json"))).toThrow(/cannot read the run .*ENOENT/);
  });
});
