import { describe, expect, it } from "vitest";
import { formatHeadline, SYSTEMS } from "../../src/bench/run.js";
import type { Result } from "../../src/bench/measure.js";

const result = (system: string, workload: string, opsPerSec: number, p50Ms: number): Result =>
  ({ system, workload, ops: 1000, errors: 0, p50Ms, p99Ms: p50Ms * 2, opsPerSec });

describe("bench headline", () => {
  it("bench - compares with the fastest durable peer, and apart with NATS KV R3's default", () => {
    const headline = formatHeadline([
      result(SYSTEMS.paxoskv, "create, 256 in flight", 8000, 30),
      result(SYSTEMS.natsR3, "create, 256 in flight", 16000, 10),
      result(SYSTEMS.natsR3Sync, "create, 256 in flight", 2000, 90),
      result(SYSTEMS.etcd, "create, 256 in flight", 2500, 80),
      result(SYSTEMS.paxoskv, "create, sequential", 500, 2.0),
      result(SYSTEMS.natsR3, "create, sequential", 2000, 0.5),
      result(SYSTEMS.natsR3Sync, "create, sequential", 300, 3.0),
      result(SYSTEMS.etcd, "create, sequential", 600, 1.6),
    ]);
    // Throughput: the fastest durable peer is etcd (2,500/s); latency: etcd too (1.6 ms).
    expect(headline).toContain("create, 256 in flight: 3.20× its ops/s of the fastest durable " +
      "peer, etcd 3-node (fsync always); 0.50× its ops/s of NATS KV R3 (sync every 2 min)");
    expect(headline).toContain("create, sequential: 1.25× its p50 of the fastest durable peer, " +
      "etcd 3-node (fsync always); 4.00× its p50 of NATS KV R3 (sync every 2 min)");
  });

  it("bench - says so when no durable peer ran", () => {
    expect(formatHeadline([result(SYSTEMS.paxoskv, "create, sequential", 500, 2)]))
      .toContain("no durable peer measured");
    expect(formatHeadline([])).toBe("");
  });
});
