/**
 * `/metrics` after a known workload on a real cluster (nodes A, B, C as processes, each with
 * its own PAXOSKV_HTTP_PORT): N creates, the seed's race, a repeated create, gets that hit and
 * one that finds nothing. The names, labels and values are the ones docs/operations.md lists.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { poll } from "./support/cluster-tools.js";
import { scrape, select, total, type Scrape } from "./support/prometheus.js";
import { cleanup, freePort } from "./support/servers.js";

const NODES = ["A", "B", "C"] as const;
// Enough creates that some node runs several: its first is a classic round (it has heard no
// acceptor yet), the later ones fast rounds.
const N = 12;
let cluster: LocalCluster;
const ports = new Map<string, number>();
const clients: PaxosKvClient[] = [];
let before: Scrape[] = [];
let after: Scrape[] = [];

const scrapeAll = () => Promise.all(NODES.map((id) => scrape(ports.get(id) as number)));
const sum = (scrapes: Scrape[], name: string, labels: Record<string, string> = {}) =>
  scrapes.reduce((acc, s) => acc + total(s, name, labels), 0);

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn" });
  for (const id of NODES) ports.set(id, await freePort());
  await Promise.all(NODES.map((id) => cluster.spawnNode(id, undefined, {
    PAXOSKV_HTTP_PORT: String(ports.get(id)), PAXOSKV_REQUEST_TIMEOUT_MS: "8000",
  })));
  for (let i = 0; i < 2; i++) {
    clients.push(await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 15_000 }));
  }
  const [one, two] = clients as [PaxosKvClient, PaxosKvClient];
  before = await scrapeAll();

  for (let i = 0; i < N; i++) await one.create(`m.k${i}`, `v${i}`);
  const [r1, r2] = await Promise.all([one.create("m.race", "3"), two.create("m.race", "7")]);
  expect(r1.value).toBe(r2.value);
  expect((await two.create("m.k0", "another")).created).toBe(false);
  // Every learner holds every key before the gets, so each get is a replica hit.
  await poll("every replica holds N + 1 keys", async () => {
    const s = await scrapeAll();
    return s.every((x) => total(x, "paxoskv_replica_keys") === N + 1) ? true : undefined;
  });
  for (let i = 0; i < 3; i++) expect((await one.get(`m.k${i}`)).found).toBe(true);
  expect((await one.get("m.absent")).found).toBe(false);
  after = await scrapeAll();
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await cluster?.stopNodes();
  await cleanup();
});

describe("metrics - /metrics after a known workload", () => {
  it("metrics - paxoskv_creates_total counts creates by outcome, and moves", () => {
    expect(sum(before, "paxoskv_creates_total")).toBe(0);
    // N creates and the race's winner were created; the race's loser and the repeat exist.
    expect(sum(after, "paxoskv_creates_total", { outcome: "created" })).toBe(N + 1);
    expect(sum(after, "paxoskv_creates_total", { outcome: "exists" })).toBe(2);
    expect(sum(after, "paxoskv_creates_total", { outcome: "timeout" })).toBe(0);
    for (const s of after) expect(s.types.get("paxoskv_creates_total")).toBe("counter");
  });

  it("metrics - creates on warm nodes are chosen in fast rounds, the others in classic ones",
    () => {
      const fast = sum(after, "paxoskv_fast_rounds_total", { result: "chosen" });
      expect(fast).toBeGreaterThanOrEqual(1);
      // Every created key was chosen by a fast round or by a classic round's Prepare phase.
      expect(fast + sum(after, "paxoskv_phase_seconds_count", { phase: "prepare" }))
        .toBeGreaterThanOrEqual(N + 1);
      for (const s of after) {
        for (const sample of select(s, "paxoskv_fast_rounds_total")) {
          expect(["chosen", "refused", "timeout"]).toContain(sample.labels.result);
        }
      }
    });

  it("metrics - paxoskv_phase_seconds has prepare, accept and fast histograms with buckets",
    () => {
    for (const phase of ["prepare", "accept", "fast"]) {
      const count = sum(after, "paxoskv_phase_seconds_count", { phase });
      expect(count, phase).toBeGreaterThanOrEqual(1);
      expect(sum(after, "paxoskv_phase_seconds_sum", { phase }), phase).toBeGreaterThan(0);
      for (const s of after) {
        const buckets = select(s, "paxoskv_phase_seconds_bucket", { phase });
        if (buckets.length === 0) continue; // a node that ran no proposal
        const les = buckets.map((b) => b.labels.le);
        expect(les).toContain("0.001");
        expect(les).toContain("+Inf");
        // Cumulative: each bucket holds at least the one below it; +Inf holds them all.
        const values = buckets.map((b) => b.value);
        expect([...values].sort((a, b) => a - b)).toEqual(values);
        expect(buckets.at(-1)?.value).toBe(total(s, "paxoskv_phase_seconds_count", { phase }));
      }
    }
    expect(after[0]?.types.get("paxoskv_phase_seconds")).toBe("histogram");
    expect(sum(after, "paxoskv_create_rounds_count")).toBeGreaterThanOrEqual(N + 1);
  });

  it("metrics - paxoskv_acceptor_replies_total counts promises and accepts by phase", () => {
    // A classic round needs a majority (2 of 3) of promises and of accepts, a fast round all
    // three accepts; the first proposal of each node is classic.
    expect(sum(after, "paxoskv_acceptor_replies_total", { reply: "promise", phase: "prepare" }))
      .toBeGreaterThanOrEqual(2);
    expect(sum(after, "paxoskv_acceptor_replies_total", { reply: "accepted", phase: "accept" }))
      .toBeGreaterThanOrEqual(2 * (N + 1));
    for (const s of after) {
      for (const sample of select(s, "paxoskv_acceptor_replies_total")) {
        expect(["promise", "accepted", "nack"]).toContain(sample.labels.reply);
        expect(["prepare", "accept"]).toContain(sample.labels.phase);
      }
    }
  });

  it("metrics - paxoskv_reads_total counts replica hits and confirmed absences", () => {
    expect(sum(after, "paxoskv_reads_total", { result: "hit" })).toBeGreaterThanOrEqual(3);
    expect(sum(after, "paxoskv_reads_total", { result: "absent" })).toBeGreaterThanOrEqual(1);
  });

  it("metrics - learner, replica and connection gauges per node", () => {
    NODES.forEach((id, i) => {
      const s = after[i] as Scrape;
      const one = (name: string) => {
        const samples = select(s, name);
        expect(samples, `${name} on ${id}`).toHaveLength(1);
        expect(samples[0]?.labels.node).toBe(id);
        return samples[0]?.value;
      };
      expect(one("paxoskv_learner_lag")).toBe(0);
      expect(one("paxoskv_replica_keys")).toBe(N + 1);
      expect(one("paxoskv_nats_connected")).toBe(1);
      expect(one("paxoskv_redis_up")).toBe(1);
      // startLocalCluster gives every node PAXOSKV_ACCEPTOR_REDIS: each reaches all three.
      expect(select(s, "paxoskv_quorum_read_redis_up").map((x) => [x.labels.acceptor, x.value])
        .sort()).toEqual([["A", 1], ["B", 1], ["C", 1]]);
      for (const name of ["paxoskv_learner_lag", "paxoskv_replica_keys",
        "paxoskv_nats_connected", "paxoskv_redis_up", "paxoskv_quorum_read_redis_up"]) {
        expect(s.types.get(name), name).toBe("gauge");
        expect(s.help.has(name), name).toBe(true);
      }
    });
  });

  it("metrics - every sample carries its node label", () => {
    NODES.forEach((id, i) => {
      const s = after[i] as Scrape;
      const paxoskv = s.samples.filter((x) => x.name.startsWith("paxoskv_"));
      expect(paxoskv.length).toBeGreaterThan(20);
      for (const sample of paxoskv) expect(sample.labels.node, sample.name).toBe(id);
    });
  });
});
