/**
 * `paxoskv bench`: paxoskv against what users would pick instead, on the same machine, in the
 * same run: NATS JetStream KV `create` (R1 on one server; R3 on a 3-server cluster, once at
 * JetStream's default, which acknowledges before it syncs, and once with
 * `sync_interval: always`, which syncs every write before acknowledging it) and etcd's
 * create-if-absent txn (3 members, when `etcd` is on PATH), plus the building blocks (a NATS
 * request-reply, a majority scatter-gather) as baselines. Every system's name says its
 * durability; the headline compares paxoskv (every vote fsynced on every acceptor before it
 * answers) with the fastest durable peer, and apart from that with the non-durable default.
 * Prints a table with ratios and writes JSON.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { PaxosKvClient } from "../client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../dev/cluster.js";
import { cleanup, startNats, startNatsCluster } from "../dev/servers.js";
import { etcdAvailable, etcdCreate, startEtcdCluster } from "./etcd.js";
import { measure, Progress, type Result, processCpuSeconds, processRssMb } from "./measure.js";

export interface BenchOptions {
  /** Ops of each sequential workload. */
  readonly seqOps: number;
  /** Ops of each concurrent workload. */
  readonly parOps: number;
  /** Seconds of full load for the memory check (0: skip). */
  readonly soakSeconds: number;
  /**
   * Roles of the soak's nodes. A learner holds every key, so its memory grows with the keys;
   * `proposer,acceptor` shows whether anything else grows.
   */
  readonly soakRoles: string;
  /** Where the JSON goes. */
  readonly outDir: string;
  /** Skip the alternatives (paxoskv alone). */
  readonly only: boolean;
  /** Runs only the workloads whose name matches (default: all). */
  readonly workloads?: RegExp;
}

/** One operation of a workload; `i` numbers it. */
type Op = (i: number) => Promise<unknown>;

const VALUE = "v".repeat(100); // 100-byte values, as in the research baselines

export async function runBench(options: BenchOptions): Promise<Result[]> {
  const progress = new Progress();
  const results: Result[] = [];
  const run = Date.now().toString(36);
  try {
    const cluster = await startLocalCluster({ logLevel: "warn" });
    const nodes = await Promise.all(cluster.acceptors.map((id) => cluster.spawnNode(id)));
    results.push(...await benchBaselines(cluster.nats.url, options, progress));
    results.push(...await benchPaxosKv(cluster, nodes, run, options, progress));
    await cluster.stopNodes();
    if (options.soakSeconds > 0) results.push(await soakCluster(run, options));
    if (!options.only) results.push(...await benchAlternatives(run, options, progress));
  } finally {
    await cleanup();
  }
  return results;
}

async function benchBaselines(url: string, o: BenchOptions, progress: Progress): Promise<Result[]> {
  const nc = await connect({ servers: url });
  const responders = await Promise.all([0, 1, 2].map(() => connect({ servers: url })));
  responders.forEach((r, i) => r.subscribe("bench.sg", { queue: `q${i}`,
    callback: (_e, m) => void m.respond(m.data) }));
  responders[0]?.subscribe("bench.echo", { callback: (_e, m) => void m.respond(m.data) });
  await Promise.all(responders.map((r) => r.flush()));
  const results: Result[] = [];
  const m = async (workload: string, op: () => Promise<unknown>) => {
    if (selected(o, workload)) {
      results.push(await measure("baseline", workload, o.seqOps, 1, op, progress));
    }
  };
  await m("NATS request-reply, sequential", () => nc.request("bench.echo", VALUE));
  await m("majority scatter-gather (2 of 3), sequential", () => scatterGather(nc, "bench.sg", 2));
  await Promise.all([nc, ...responders].map((c) => c.close()));
  return results;
}

/**
 * Whether a workload is to run. "get hit" reads the keys of "create, sequential": select both
 * (a hit without them measures misses).
 */
function selected(o: BenchOptions, workload: string): boolean {
  return o.workloads === undefined || o.workloads.test(workload);
}

/** One publish to three queue groups; resolves at the `need`-th reply. */
async function scatterGather(nc: NatsConnection, subject: string, need: number): Promise<void> {
  const replies = await nc.requestMany(subject, VALUE, { maxWait: 2000, strategy: "count",
    maxMessages: need });
  let count = 0;
  for await (const reply of replies) {
    if (reply.data.length > 0 && ++count >= need) break;
  }
  if (count < need) throw new Error("scatter-gather short of replies");
}

async function benchPaxosKv(
  cluster: LocalCluster, nodes: readonly NodeProcess[], run: string, o: BenchOptions,
  progress: Progress,
): Promise<Result[]> {
  const client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 30_000 });
  const kv = (w: string, i: number) => `${w}${run}.${i}`;
  const results: Result[] = [];
  const cpuUs = () => nodes.reduce((sum, n) => sum + cpuSeconds(n.pid), 0) * 1e6;
  const m = async (workload: string, ops: number, conc: number, op: Op) => {
    if (!selected(o, workload)) return;
    const before = cpuUs();
    const result = await measure(SYSTEMS.paxoskv, workload, ops, conc, op, progress);
    results.push({ ...result, nodeCpuUsPerOp: (cpuUs() - before) / ops });
  };
  await measure(SYSTEMS.paxoskv, "warm-up", 300, 16, (i) => client.create(kv("w", i), VALUE), progress);
  await m("create, sequential", o.seqOps, 1, (i) => client.create(kv("s", i), VALUE));
  await m("create, 64 in flight", o.parOps, 64, (i) => client.create(kv("p", i), VALUE));
  await m("create, 256 in flight", o.parOps, 256, (i) => client.create(kv("q", i), VALUE));
  for (const racers of [2, 8]) {
    // `racers` clients race each key with different values; 64 ops in flight in all.
    await m(`create, ${racers} racing per key, 64 in flight`, o.parOps, 64,
      (i) => client.create(kv(`r${racers}-`, Math.floor(i / racers)), `${VALUE}${i % racers}`));
  }
  await m("get hit, sequential", o.seqOps, 1, (i) => client.get(kv("s", i)));
  await m("get miss (quorum read), sequential", o.seqOps, 1, (i) => client.get(kv("none", i)));
  await m("replica-get, sequential", o.seqOps, 1,
    (i) => client.get(kv("s", i), { replica: true }));
  await m("replica-get, 64 in flight", o.parOps, 64,
    (i) => client.get(kv("p", i), { replica: true }));
  await client.close();
  return results;
}

/** The soak on a cluster of its own, with nodes of `soakRoles`. */
async function soakCluster(run: string, o: BenchOptions): Promise<Result> {
  const cluster = await startLocalCluster({ logLevel: "warn" });
  const nodes = await Promise.all(cluster.acceptors.map((id) => cluster.spawnNode(id, o.soakRoles)));
  const client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 30_000 });
  try {
    return await soak(nodes, client, run, o);
  } finally {
    await client.close();
    await cluster.stopNodes();
  }
}

/** Full load for a while; reports the nodes' resident memory at the start and the end. */
async function soak(
  nodes: readonly NodeProcess[], client: PaxosKvClient, run: string, o: BenchOptions,
): Promise<Result> {
  const rss = () => nodes.reduce((sum, n) => sum + rssMb(n.pid), 0);
  const before = rss();
  const until = performance.now() + o.soakSeconds * 1000;
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  process.stderr.write(`paxoskv: soak for ${o.soakSeconds}s at 256 in flight\n`);
  let middle = before;
  const halfway = setTimeout(() => { middle = rss(); }, (o.soakSeconds * 1000) / 2);
  const started = performance.now();
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (performance.now() < until) {
      const t = performance.now();
      await client.create(`soak${run}.${next++}`, VALUE).catch(() => errors++);
      latencies.push(performance.now() - t);
    }
  }));
  clearTimeout(halfway);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  // A learner's replica holds every key, so there RSS grows with the keys: report the growth
  // per key too, to compare with the replica's own footprint.
  const after = rss();
  const perKey = ((after - middle) * 1024 * 1024) / Math.max(1, latencies.length / 2) / nodes.length;
  return {
    system: SYSTEMS.paxoskv,
    workload: `soak ${o.soakSeconds}s @256, roles ${o.soakRoles}: RSS of ${nodes.length} ` +
      `nodes ${before.toFixed(0)} → ${middle.toFixed(0)} (half-way) → ${after.toFixed(0)} MB, ` +
      `${perKey.toFixed(0)} B per key per node in the second half`,
    ops: latencies.length, errors, p50Ms: latencies[latencies.length >> 1] ?? Number.NaN,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? Number.NaN,
    opsPerSec: latencies.length / seconds,
  };
}



/**
 * The systems' names, with their durability: whether an acknowledged create is on disk (synced)
 * on every replica that acknowledged it, as paxoskv's votes are.
 */
export const SYSTEMS = {
  paxoskv: "paxoskv (fsync always)",
  natsR1: "NATS KV R1 (sync every 2 min)",
  natsR3: "NATS KV R3 (sync every 2 min)",
  natsR3Sync: "NATS KV R3 (sync always)",
  etcd: "etcd 3-node (fsync always)",
} as const;

/** The peers whose acknowledged writes survive a power cut of every machine, as paxoskv's. */
const DURABLE_PEERS: readonly string[] = [SYSTEMS.natsR3Sync, SYSTEMS.etcd];

/** JetStream syncs each write before acknowledging it (the default is every 2 minutes). */
const SYNC_ALWAYS = "jetstream { sync_interval: always }\n";

async function benchAlternatives(run: string, o: BenchOptions, progress: Progress): Promise<Result[]> {
  const results: Result[] = [];
  const natsR1 = await startNats();
  const r3 = await startNatsCluster({ size: 3 });
  // nats-server before 2.10 does not know sync_interval and refuses to start with it.
  const r3Sync = await startNatsCluster({ size: 3, name: "kvsync", config: SYNC_ALWAYS })
    .catch((err: unknown) => {
      process.stderr.write(`skipping ${SYSTEMS.natsR3Sync}: ${String(err)}\n`);
      return null;
    });
  const urls = (servers: readonly { url: string }[]) => servers.map((s) => s.url).join(",");
  for (const [system, url, replicas] of [
    [SYSTEMS.natsR1, natsR1.url, 1], [SYSTEMS.natsR3, urls(r3), 3],
    ...(r3Sync === null ? [] : [[SYSTEMS.natsR3Sync, urls(r3Sync), 3] as const]),
  ] as const) {
    const nc = await connect({ servers: url.split(",") });
    const kv = await new Kvm(nc).create(`bench${run}`, { replicas, storage: "file" });
    const m = async (workload: string, ops: number, conc: number, op: Op) => {
      if (selected(o, workload)) {
        results.push(await measure(system, workload, ops, conc, op, progress));
      }
    };
    await measure(system, "warm-up", 300, 16, (i) => kv.create(`w.${i}`, VALUE), progress);
    await m("create, sequential", o.seqOps, 1, (i) => kv.create(`s.${i}`, VALUE));
    await m("create, 64 in flight", o.parOps, 64, (i) => kv.create(`p.${i}`, VALUE));
    await m("create, 256 in flight", o.parOps, 256, (i) => kv.create(`q.${i}`, VALUE));
    await m("get hit, sequential", o.seqOps, 1, (i) => kv.get(`s.${i}`));
    await nc.close();
  }
  if (etcdAvailable()) {
    const etcd = await startEtcdCluster(3);
    const url = etcd.clientUrls[0] as string;
    const m = async (workload: string, ops: number, conc: number, op: Op) => {
      if (selected(o, workload)) {
        results.push(await measure(SYSTEMS.etcd, workload, ops, conc, op, progress));
      }
    };
    await measure(SYSTEMS.etcd, "warm-up", 300, 16, (i) => etcdCreate(url, `w.${i}`, VALUE), progress);
    await m("create, sequential", o.seqOps, 1, (i) => etcdCreate(url, `s.${i}`, VALUE));
    await m("create, 64 in flight", o.parOps, 64, (i) => etcdCreate(url, `p.${i}`, VALUE));
    await m("create, 256 in flight", o.parOps, 256, (i) => etcdCreate(url, `q.${i}`, VALUE));
  } else {
    process.stderr.write("etcd is not on PATH (apt-get install etcd-server): skipping etcd\n");
  }
  return results;
}

/**
 * The comparisons the targets are stated in: paxoskv's creates against the fastest durable peer
 * (by that workload's figure), and against NATS KV R3 at its default, apart.
 */
export function formatHeadline(results: readonly Result[]): string {
  const find = (system: string, workload: string) =>
    results.find((r) => r.system === system && r.workload === workload);
  const lines: string[] = [];
  for (const [workload, figure] of [
    ["create, 256 in flight", "throughput"], ["create, sequential", "p50"],
  ] as const) {
    const ours = find(SYSTEMS.paxoskv, workload);
    if (ours === undefined) continue;
    const better = (r: Result) => figure === "throughput" ? r.opsPerSec : -r.p50Ms;
    const durable = DURABLE_PEERS.map((s) => find(s, workload)).filter((r) => r !== undefined)
      .sort((a, b) => better(b) - better(a))[0];
    const ratio = (peer: Result) => figure === "throughput"
      ? `${(ours.opsPerSec / peer.opsPerSec).toFixed(2)}× its ops/s`
      : `${(ours.p50Ms / peer.p50Ms).toFixed(2)}× its p50`;
    const defaultR3 = find(SYSTEMS.natsR3, workload);
    lines.push(`- ${workload}: ` + [
      durable === undefined ? "no durable peer measured" :
        `${ratio(durable)} of the fastest durable peer, ${durable.system}`,
      defaultR3 === undefined ? "" : `${ratio(defaultR3)} of ${defaultR3.system} (not durable)`,
    ].filter((x) => x !== "").join("; "));
  }
  return lines.length === 0 ? "" : `paxoskv against its peers:\n${lines.join("\n")}`;
}

/** The results as a Markdown table, with paxoskv's ratio to each alternative per workload. */
export function formatResults(results: readonly Result[]): string {
  const alternatives = [...new Set(results.map((r) => r.system))]
    .filter((s) => s !== SYSTEMS.paxoskv && s !== "baseline");
  const head = ["system", "workload", "ops", "errors", "p50 ms", "p99 ms", "ops/s",
    "nodes' CPU µs/op", ...alternatives.map((a) => `÷ ${a} (ops/s, p50)`)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of results) {
    const ratios = alternatives.map((a) => {
      if (r.system !== SYSTEMS.paxoskv) return "";
      const alt = results.find((x) => x.system === a && x.workload === r.workload);
      return alt === undefined ? "" :
        `${(r.opsPerSec / alt.opsPerSec).toFixed(2)}×, ${(r.p50Ms / alt.p50Ms).toFixed(2)}×`;
    });
    lines.push(`| ${[r.system, r.workload, r.ops, r.errors, r.p50Ms.toFixed(2),
      r.p99Ms.toFixed(2), r.opsPerSec.toFixed(0), r.nodeCpuUsPerOp?.toFixed(0) ?? "",
      ...ratios].join(" | ")} |`);
  }
  return lines.join("\n");
}

export function writeResults(results: readonly Result[], outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}/bench-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, `${JSON.stringify({ when: new Date().toISOString(), results }, null, 2)}\n`);
  return file;
}

/** A node's CPU seconds and RSS as this bench reports them (0 for a process that is gone). */
function cpuSeconds(pid: number | undefined): number {
  return processCpuSeconds(pid, 0);
}

function rssMb(pid: number | undefined): number {
  return processRssMb(pid, 0);
}
