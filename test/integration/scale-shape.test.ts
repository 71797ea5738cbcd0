/**
 * The scale benchmark at a small N, as CI runs it: memory does not grow with the keys (the live
 * heap holds nothing per key, RSS settles), the replica is on disk, a restarted learner resumes
 * from its recorded sequence, 0 errors. The bounds are `SHAPE` (src/bench/scale.ts), derived in
 * docs/benchmarks.md ("Scale").
 */
import { describe, expect, it } from "vitest";
import { formatScale, runScale, shapeViolations } from "../../src/bench/scale.js";

const KEYS = Number(process.env.PAXOSKV_SCALE_TEST_KEYS ?? 50_000);

describe("bench --scale", () => {
  it("scale - memory flat in the keys, replica on disk, restart resumes, 0 errors", async () => {
    const result = await runScale({
      keys: KEYS, valueBytes: 24, concurrency: 256, natsServers: 1, acceptors: "redis",
      rebuild: true,
    });
    console.log(formatScale(result));
    expect(shapeViolations(result)).toEqual([]);
    expect(result.samples.map((s) => s.keys)).toEqual(
      Array.from({ length: 11 }, (_, i) => Math.round((KEYS * i) / 10)));
    expect(result.rebuild?.reports).toHaveLength(3);
  }, 240_000);
});
