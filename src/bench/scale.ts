/**
 * `paxoskv bench --scale N`: N fresh keys created at full load on a local cluster of its own
 * (nats-server, one Redis per acceptor with `appendfsync always`, nodes A, B, C with every role
 * as separate processes, replicas on disk), and how each part grows with the keys. Every 10 %
 * of the way: create throughput and p50/p99 over that tenth, each node's RSS and V8 heap, each
 * acceptor's Redis `used_memory` (and bytes per key), each replica's size on disk, each NATS
 * server's RSS. Then a learner restart (SIGKILL, start, time to /readyz: it must resume from
 * the sequence its replica recorded, not replay the stream) and, unless skipped, a full rebuild
 * requested from every learner (time, peak RSS).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { decodeJson } from "../adapters/nats/connection.js";
import { PaxosKvClient } from "../client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../dev/cluster.js";
import { cleanup, freePort, startRedisCluster } from "../dev/servers.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { paxosRebuildSubject } from "../protocol/subjects.js";
import { percentile, Progress, processCpuSeconds, processRssMb } from "./measure.js";

export interface ScaleOptions {
  /** Keys to create. */
  readonly keys: number;
  /** Bytes of each value (small: the run is about the number of keys). */
  readonly valueBytes: number;
  /** Creates in flight. */
  readonly concurrency: number;
  /** NATS servers: 1, or a JetStream cluster of 3 (the chosen stream R3). */
  readonly natsServers: number;
  /** Where each acceptor keeps its state; only one Redis per acceptor so far. */
  readonly acceptors: AcceptorStoreKind;
  /** Run the full rebuild at the end. */
  readonly rebuild: boolean;
}

export type AcceptorStoreKind = "redis" | "cluster";

/** One acceptor's store as the bench sees it: its URL for the node and a memory probe. */
export interface AcceptorStoreProbe {
  /** PAXOSKV_REDIS_URL of the acceptor's node. */
  readonly url: string;
  /** `used_memory` and CPU seconds (summed over its Redis, for a store of several). */
  usage(): Promise<RedisUsage>;
  /** Whether direct quorum reads (PAXOSKV_ACCEPTOR_REDIS) can use it: not a cluster. */
  readonly direct: boolean;
  /** Stops what the bench started for it alone (a cluster's primaries). */
  stop(): Promise<void>;
}

/**
 * The acceptors' stores of `kind`: the local cluster's one Redis per acceptor, or a Redis
 * Cluster of 3 primaries per acceptor (its URL the primaries' list, its memory their sum).
 */
export async function acceptorStores(
  kind: AcceptorStoreKind, cluster: LocalCluster,
): Promise<Map<string, AcceptorStoreProbe>> {
  switch (kind) {
    case "redis":
      return new Map(cluster.acceptors.map((id) => {
        const url = cluster.redis.get(id)?.url ?? "";
        return [id, { url, usage: () => redisUsage(url), direct: true,
          stop: () => Promise.resolve() }];
      }));
    case "cluster":
      return new Map(await Promise.all(cluster.acceptors.map(async (id) => {
        const shards = await startRedisCluster(3);
        const probe: AcceptorStoreProbe = {
          url: shards.url, direct: false,
          usage: async () => sumUsage(await Promise.all(shards.primaries.map((p) =>
            redisUsage(p.url)))),
          stop: async () => { await Promise.all(shards.primaries.map((p) => p.stop())); },
        };
        return [id, probe] as const;
      })));
  }
}

/** What a Redis (or the sum of several) reports of itself. */
export interface RedisUsage {
  /** Bytes of `used_memory`. */
  readonly usedMemory: number;
  /** User and system CPU seconds of the server process so far. */
  readonly cpuSeconds: number;
  /** The same for its finished children: the forks that rewrite its AOF. */
  readonly childCpuSeconds: number;
}

export interface NodeSample {
  readonly id: string;
  readonly rssMb: number;
  /** User and system CPU time of the process so far. */
  readonly cpuSeconds: number;
  readonly heapUsedMb: number;
  /** The V8 heap in use after the last full collection (garbage excluded). */
  readonly heapLiveMb: number;
  /** What V8 has reserved for its heap (in RSS once touched). */
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly replicaDiskMb: number;
  readonly replicaKeys: number;
}

export interface ScaleSample {
  /** Keys created so far. */
  readonly keys: number;
  readonly seconds: number;
  /** Over the tenth that ended here (0 for the sample before the first create). */
  readonly createsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly nodes: readonly NodeSample[];
  readonly acceptors: readonly { readonly id: string; readonly usedMemoryMb: number;
    readonly bytesPerKey: number; readonly cpuSeconds?: number;
    readonly childCpuSeconds?: number }[];
  readonly natsRssMb: readonly number[];
  /** CPU seconds so far of each NATS server, and of this bench's own process (the client). */
  readonly natsCpuSeconds?: readonly number[];
  readonly clientCpuSeconds?: number;
}

export interface RestartResult {
  readonly node: string;
  /** From the start of the process to /readyz 200. */
  readonly readyMs: number;
  /** From the start of the process until its replica holds every key again. */
  readonly caughtUpMs: number;
  /** The last stream sequence its replica had applied before the crash (from /readyz). */
  readonly appliedBefore: number;
  /** The stream sequence its learner asked for first (its replica's + 1), and how many were
   * pending then. */
  readonly from: number;
  readonly pending: number;
  readonly rssMb: number;
}

export interface RebuildResult {
  readonly ms: number;
  readonly peakRssMb: Readonly<Record<string, number>>;
  readonly reports: readonly unknown[];
}

export interface ScaleResult {
  readonly when: string;
  readonly options: ScaleOptions;
  readonly samples: readonly ScaleSample[];
  readonly errors: number;
  /** Failed creates by error message (the first 20 kinds). */
  readonly errorKinds?: Readonly<Record<string, number>>;
  /** Requests the nodes' admission control refused (the client sent them again). */
  readonly refused?: number;
  readonly restart: RestartResult;
  readonly rebuild: RebuildResult | null;
}

/** The value of key `i`: distinct per key, `bytes` long. */
function valueOf(i: number, bytes: number): string {
  return String(i).padStart(bytes, "v").slice(-bytes);
}

/** Tries of a create refused by a busy node (UNAVAILABLE: certainly not done) before it fails. */
export const CLIENT_RETRIES = 3;

export async function runScale(o: ScaleOptions, progress = new Progress()): Promise<ScaleResult> {
  if (!(Number.isSafeInteger(o.keys) && o.keys >= 10)) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, `--scale needs N ≥ 10 keys, not ${o.keys}`);
  }
  if (!(Number.isInteger(o.valueBytes) && o.valueBytes >= 8 && o.valueBytes <= 1024)) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST,
      `--value-bytes must be 8 to 1024 (small values: the run is about keys), not ${o.valueBytes}`);
  }
  try {
    const cluster = await startLocalCluster({
      logLevel: "info", natsClusterSize: o.natsServers,
      // Full collections on request (NodeProcess.collectGarbage): the live heap at each sample.
      nodeExecArgv: ["--expose-gc",
        ...(process.env.PAXOSKV_NODE_EXEC_ARGV ?? "").split(" ").filter((a) => a !== "")],
    });
    const stores = await acceptorStores(o.acceptors, cluster);
    const nodes = await Promise.all(cluster.acceptors.map(async (id) => cluster.spawnNode(id,
      undefined, {
        PAXOSKV_HTTP_PORT: String(await freePort()),
        PAXOSKV_REDIS_URL: stores.get(id)?.url ?? "",
        // Direct quorum reads take one Redis per acceptor; over clusters they go over NATS.
        ...([...stores.values()].every((s) => s.direct) ? {
          PAXOSKV_ACCEPTOR_REDIS: [...stores].map(([a, s]) => `${a}=${s.url}`).join(","),
        } : {}),
      })));
    const natsPids = cluster.natsServers.map((s) => natsPid(s.port));
    // As a client at full load should: a create refused by admission control (UNAVAILABLE,
    // nothing done: the node was busy past its wait) is sent again; the refusals are counted.
    const client = await PaxosKvClient.connect({ servers: cluster.natsUrl.split(","),
      timeoutMs: 30_000, retries: CLIENT_RETRIES });
    try {
      const baseline = await Promise.all([...stores.values()].map((s) => s.usage()));
      const sampleAt = async (keys: number, seconds: number, tenth: Tenth | null):
        Promise<ScaleSample> => {
        const clientCpu = process.cpuUsage();
        const used = await Promise.all([...stores.values()].map((s) => s.usage()));
        return {
          keys, seconds, createsPerSec: tenth?.rate ?? 0, p50Ms: tenth?.p50 ?? 0,
          p99Ms: tenth?.p99 ?? 0, errors: tenth?.errors ?? 0,
          nodes: await Promise.all(nodes.map(sampleNode)),
          acceptors: [...stores.keys()].map((id, i) => ({
            id, usedMemoryMb: (used[i]?.usedMemory ?? 0) / 1e6,
            bytesPerKey: keys === 0 ? 0
              : ((used[i]?.usedMemory ?? 0) - (baseline[i]?.usedMemory ?? 0)) / keys,
            cpuSeconds: used[i]?.cpuSeconds ?? NaN,
            childCpuSeconds: used[i]?.childCpuSeconds ?? NaN,
          })),
          natsRssMb: natsPids.map(rssMb),
          natsCpuSeconds: natsPids.map(cpuSeconds),
          clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
        };
      };
      const samples: ScaleSample[] = [await sampleAt(0, 0, null)];
      const { samples: loaded, errors, errorKinds } =
        await load(client, o, progress, samples[0] as ScaleSample, sampleAt);
      samples.push(...loaded);
      const refused = (await Promise.all(nodes.map(nodeMetrics)))
        .reduce((sum, text) => sum + sumOf(text, "paxoskv_admission_refused_total"), 0);
      // Every learner holds every key created before one is restarted (a failed create may or
      // may not have been chosen).
      await Promise.all(nodes.map((n) => caughtUp(n, o.keys - errors, 120_000)));
      const restart = await restartLearner(nodes[nodes.length - 1] as NodeProcess,
        o.keys - errors);
      const rebuild = o.rebuild ? await rebuildAll(client, cluster.prefix, nodes) : null;
      return {
        when: new Date().toISOString(), options: o, samples, errors, errorKinds, refused, restart,
        rebuild,
      };
    } finally {
      await client.close();
      await cluster.stopNodes();
      await Promise.all([...stores.values()].map((s) => s.stop()));
    }
  } finally {
    await cleanup();
  }
}

interface Tenth {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

/**
 * Creates keys 0..N-1 with `concurrency` in flight and never a pause: at each tenth the
 * sample is taken while the load goes on.
 */
async function load(
  client: PaxosKvClient, o: ScaleOptions, progress: Progress, first: ScaleSample,
  sampleAt: (keys: number, seconds: number, tenth: Tenth) => Promise<ScaleSample>,
): Promise<{ samples: ScaleSample[]; errors: number; errorKinds: Record<string, number> }> {
  const run = Date.now().toString(36);
  const pending: Promise<ScaleSample>[] = [];
  let latencies: number[] = [];
  let tenthErrors = 0;
  let errors = 0;
  const errorKinds = new Map<string, number>();
  let next = 0;
  let done = 0;
  let tenth = 1;
  const started = performance.now();
  let tenthStarted = started;
  let tenthDone = 0;
  progress.start(`scale: ${o.keys.toLocaleString("en")} creates`, o.keys);
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.keys) }, async () => {
    while (next < o.keys) {
      const i = next++;
      const value = valueOf(i, o.valueBytes);
      const t = performance.now();
      try {
        const reply = await client.create(`scale.${run}.${i}`, value);
        if (reply.value !== value) throw new Error(`scale.${run}.${i} holds another value`);
      } catch (err) {
        tenthErrors++;
        errors++;
        const kind = (err instanceof Error ? err.message : String(err)).slice(0, 200);
        if (errorKinds.size < 20 || errorKinds.has(kind)) {
          errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
        }
      }
      const now = performance.now();
      latencies.push(now - t);
      done++;
      progress.tick();
      if (done >= Math.round((o.keys * tenth) / 10)) {
        latencies.sort((a, b) => a - b);
        const measured: Tenth = {
          rate: (done - tenthDone) / ((now - tenthStarted) / 1000),
          p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), errors: tenthErrors,
        };
        const previous = pending.at(-1) ?? Promise.resolve(first);
        const sample = sampleAt(done, (now - started) / 1000, measured);
        sample.catch(() => undefined); // handled after the load (Promise.all below)
        pending.push(sample);
        // A long run says where it is (the progress bar is drawn on a terminal only), with the
        // CPU per create since the sample before (a failed sample fails the run below).
        if (!process.stderr.isTTY) {
          Promise.all([previous, sample]).then(([before, after]) => {
            process.stderr.write(`${formatRow(after, before)}\n`);
          }, () => undefined);
        }
        latencies = [];
        tenthErrors = 0;
        tenthStarted = now;
        tenthDone = done;
        tenth++;
      }
    }
  }));
  progress.done();
  return { samples: await Promise.all(pending), errors, errorKinds: Object.fromEntries(errorKinds) };
}

/** RSS and heap as they are under load; then the live heap after a full collection. */
async function sampleNode(node: NodeProcess): Promise<NodeSample> {
  // CPU first, so that its reading never includes the collection this sample asks for.
  const rss = rssMb(node.pid);
  const cpu = cpuSeconds(node.pid);
  const metrics = await nodeMetrics(node);
  await node.collectGarbage();
  const after = await nodeMetrics(node);
  const dir = node.env.PAXOSKV_DATA_DIR ?? "";
  return {
    id: node.id, rssMb: rss, cpuSeconds: cpu,
    heapUsedMb: metric(metrics, "paxoskv_process_nodejs_heap_size_used_bytes") / 1e6,
    heapLiveMb: metric(after, "paxoskv_process_heap_live_bytes") / 1e6,
    heapTotalMb: metric(metrics, "paxoskv_process_nodejs_heap_size_total_bytes") / 1e6,
    externalMb: metric(metrics, "paxoskv_process_nodejs_external_memory_bytes") / 1e6,
    replicaDiskMb: duBytes(dir) / 1e6,
    replicaKeys: metric(metrics, "paxoskv_replica_keys"),
  };
}

async function nodeMetrics(node: NodeProcess): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${node.env.PAXOSKV_HTTP_PORT}/metrics`);
  return response.text();
}

/** The sum of every sample of `name` (all its labels). */
function sumOf(text: string, name: string): number {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "gm"))]
    .reduce((sum, m) => sum + Number(m[1]), 0);
}

function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(text)?.[1] ?? NaN);
}

/** Resolves once the node's replica holds `keys` keys. */
async function caughtUp(node: NodeProcess, keys: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const held = metric(await nodeMetrics(node).catch(() => ""), "paxoskv_replica_keys");
    if (held >= keys) return;
    if (Date.now() > deadline) {
      throw new Error(`node ${node.id}'s replica holds ${held} of ${keys} keys after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Crashes `node` and starts it again; ready is /readyz 200. Where its learner started reading
 * comes from its log ("following the chosen stream": from, pending): a resume starts right
 * after the sequence its replica had applied (a stream message is a batch of many keys), a
 * replay at 1.
 */
async function restartLearner(node: NodeProcess, keys: number): Promise<RestartResult> {
  const url = `http://127.0.0.1:${node.env.PAXOSKV_HTTP_PORT}/readyz`;
  const before = await fetch(url).then((r) => r.json()) as { checks?: { sequence?: number } };
  const appliedBefore = before.checks?.sequence ?? NaN;
  await node.kill("SIGKILL");
  const t0 = performance.now();
  await node.start();
  while (!await fetch(url).then((r) => r.ok, () => false)) {
    if (performance.now() - t0 > 600_000) throw new Error(`${node.id} not ready after a restart`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const readyMs = performance.now() - t0;
  await caughtUp(node, keys, 600_000);
  const caughtUpMs = performance.now() - t0;
  const attached = node.output().split("\n").flatMap((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; from?: number; pending?: number };
      return entry.msg === "following the chosen stream" ? [entry] : [];
    } catch {
      return [];
    }
  })[0];
  return {
    node: node.id, readyMs, caughtUpMs, appliedBefore, from: attached?.from ?? NaN,
    pending: attached?.pending ?? NaN, rssMb: rssMb(node.pid),
  };
}

/** `paxoskv replica rebuild`: every learner rebuilds from the acceptors; their peak RSS meanwhile. */
async function rebuildAll(
  client: PaxosKvClient, prefix: string, nodes: readonly NodeProcess[],
): Promise<RebuildResult> {
  const peak: Record<string, number> = {};
  const probe = () => {
    for (const n of nodes) peak[n.id] = Math.max(peak[n.id] ?? 0, rssMb(n.pid));
  };
  probe();
  const timer = setInterval(probe, 100);
  const t0 = performance.now();
  const reports: unknown[] = [];
  try {
    const replies = await client.nc.requestMany(paxosRebuildSubject(prefix), "",
      { maxWait: 3_600_000, strategy: "count", maxMessages: nodes.length });
    for await (const reply of replies) reports.push(decodeJson(reply.data));
  } finally {
    clearInterval(timer);
  }
  probe();
  return { ms: performance.now() - t0, peakRssMb: peak, reports };
}

async function redisUsage(url: string): Promise<RedisUsage> {
  const redis = new Redis(url, { lazyConnect: true });
  try {
    await redis.connect();
    const info = await redis.info("memory", "cpu");
    const field = (name: string) =>
      Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? NaN);
    return {
      usedMemory: field("used_memory"),
      cpuSeconds: field("used_cpu_sys") + field("used_cpu_user"),
      childCpuSeconds: field("used_cpu_sys_children") + field("used_cpu_user_children"),
    };
  } finally {
    redis.disconnect();
  }
}

function sumUsage(all: readonly RedisUsage[]): RedisUsage {
  return all.reduce((a, b) => ({
    usedMemory: a.usedMemory + b.usedMemory, cpuSeconds: a.cpuSeconds + b.cpuSeconds,
    childCpuSeconds: a.childCpuSeconds + b.childCpuSeconds,
  }));
}

/** The nats-server listening on `port` (ServerHandle has no PID: found by its arguments). */
function natsPid(port: number): number | undefined {
  try {
    const out = execFileSync("pgrep", ["-f", `nats-server .*-p ${port} `]).toString().trim();
    return out === "" ? undefined : Number(out.split("\n")[0]);
  } catch {
    return undefined;
  }
}



function duBytes(dir: string): number {
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const s = statSync(join(dir, name));
    bytes += s.isDirectory() ? duBytes(join(dir, name)) : s.size;
  }
  return bytes;
}

/**
 * The bounds a run must keep (`shapeViolations`), derived in docs/benchmarks.md ("Scale"):
 * - the live heap (after a full collection) holds nothing per key: from the 20 % sample to the
 *   end it may grow by LIVE_BYTES_PER_KEY per key created meanwhile (a key kept in a Map costs
 *   over 100 B) plus LIVE_NOISE_MB (what the creates in flight hold at the moment of a GC,
 *   code V8 compiles late);
 * - RSS: V8 reserves heap ahead of use for the allocation rate, not for keys: its young
 *   generation may still be growing at 20 %, up to RSS_SETTLE_MB (2 × 64 MiB semi-spaces on
 *   Node 24 with a large heap limit), and its old generation keeps headroom in proportion to
 *   what is live (RSS_FACTOR);
 * - a learner restart resumes from its recorded sequence (starts right after the sequence it
 *   had applied before the crash, nothing pending, as the load has stopped) and is ready
 *   within RESTART_READY_MS, whatever N.
 */
export const SHAPE = {
  LIVE_BYTES_PER_KEY: 25, LIVE_NOISE_MB: 4, RSS_FACTOR: 1.5, RSS_SETTLE_MB: 128,
  RESTART_READY_MS: 10_000,
} as const;

/** What in `r` breaks the shape (empty: none). */
export function shapeViolations(r: ScaleResult): string[] {
  const out: string[] = [];
  const n = r.options.keys;
  if (r.errors > 0) out.push(`${r.errors} creates failed`);
  const last = r.samples[r.samples.length - 1];
  const fifth = r.samples.find((s) => s.keys >= Math.round(n / 5));
  if (last === undefined || fifth === undefined || last.keys !== n) {
    return [...out, "the run has no samples at 20 % and at the end"];
  }
  for (const node of last.nodes) {
    const baseLive = fifth.nodes.find((x) => x.id === node.id)?.heapLiveMb ?? NaN;
    const allowed = baseLive + ((n - fifth.keys) * SHAPE.LIVE_BYTES_PER_KEY) / 1e6 +
      SHAPE.LIVE_NOISE_MB;
    if (!(node.heapLiveMb <= allowed)) {
      out.push(`node ${node.id}: live heap ${node.heapLiveMb.toFixed(1)} MB at ${n} keys > ` +
        `${allowed.toFixed(1)} MB allowed (${baseLive.toFixed(1)} MB at ${fifth.keys} keys)`);
    }
    const rss20 = fifth.nodes.find((x) => x.id === node.id)?.rssMb ?? NaN;
    const rssAllowed = SHAPE.RSS_FACTOR * rss20 + SHAPE.RSS_SETTLE_MB;
    if (!(node.rssMb <= rssAllowed)) {
      out.push(`node ${node.id}: RSS ${mb(node.rssMb)} MB at ${n} keys > ${mb(rssAllowed)} MB ` +
        `allowed (${mb(rss20)} MB at ${fifth.keys} keys)`);
    }
    const minDisk = (n * r.options.valueBytes) / 1e6;
    if (!(node.replicaDiskMb >= minDisk)) {
      out.push(`node ${node.id}: replica on disk ${node.replicaDiskMb.toFixed(1)} MB < the ` +
        `${minDisk.toFixed(1)} MB of values it holds`);
    }
  }
  const rs = r.restart;
  if (!(rs.appliedBefore > 0 && rs.from === rs.appliedBefore + 1 && rs.pending === 0)) {
    out.push(`restart of ${rs.node} read the stream from ${rs.from} with ${rs.pending} pending ` +
      `(it had applied up to ${rs.appliedBefore}): not a resume`);
  }
  if (!(rs.readyMs <= SHAPE.RESTART_READY_MS)) {
    out.push(`restart of ${rs.node}: ready in ${rs.readyMs.toFixed(0)} ms > ${SHAPE.RESTART_READY_MS}`);
  }
  for (const report of r.rebuild?.reports ?? []) {
    const rep = report as { ok?: boolean; node?: string; failed?: number };
    if (rep.ok !== true || rep.failed !== 0) out.push(`rebuild: ${JSON.stringify(report)}`);
  }
  if (r.rebuild !== null && r.rebuild.reports.length !== r.samples[0]?.nodes.length) {
    out.push(`rebuild: ${r.rebuild.reports.length} learners answered`);
  }
  return out;
}

const mb = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "?");
const range = (xs: readonly number[]) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return mb(lo) === mb(hi) ? mb(lo) : `${mb(lo)}–${mb(hi)}`;
};

const HEAD = ["keys", "creates/s", "p50 / p99 ms", "errors",
  "CPU µs per create: nodes, Redis (of which AOF rewrites), NATS, bench client", "node RSS MB",
  "node heap used / live MB", "replica on disk MB", "acceptor Redis MB", "B per key (Redis)",
  "NATS RSS MB"];

/** One sample as a table row (ranges over the three nodes / acceptors). */
function formatRow(s: ScaleSample, previous: ScaleSample | null): string {
  const cpuPerCreate = previous === null || s.keys === previous.keys ? "" : cpuColumn(s, previous);
  return `| ${[
    s.keys.toLocaleString("en"), s.keys === 0 ? "" : s.createsPerSec.toFixed(0),
    s.keys === 0 ? "" : `${s.p50Ms.toFixed(1)} / ${s.p99Ms.toFixed(1)}`,
    s.keys === 0 ? "" : String(s.errors), cpuPerCreate,
    range(s.nodes.map((n) => n.rssMb)),
    `${range(s.nodes.map((n) => n.heapUsedMb))} / ${range(s.nodes.map((n) => n.heapLiveMb))}`,
    range(s.nodes.map((n) => n.replicaDiskMb)), range(s.acceptors.map((a) => a.usedMemoryMb)),
    s.keys === 0 ? "" : range(s.acceptors.map((a) => a.bytesPerKey)),
    s.natsRssMb.map(mb).join(", "),
  ].join(" | ")} |`;
}

/**
 * CPU seconds per create since the sample before, by kind of process: every process of the
 * run is in one of them, so a cost that grows with the keys shows where it is. Runs recorded
 * before these were measured show the nodes' only.
 */
function cpuColumn(s: ScaleSample, previous: ScaleSample): string {
  const sum = (xs: readonly (number | undefined)[] | undefined) =>
    xs === undefined || xs.length === 0 ? NaN : xs.reduce((a: number, b) => a + (b ?? NaN), 0);
  const perCreate = (pick: (x: ScaleSample) => number) =>
    (pick(s) - pick(previous)) * 1e6 / (s.keys - previous.keys);
  const show = (us: number) => Number.isNaN(us) ? "" : us.toFixed(0);
  const nodes = show(perCreate((x) => sum(x.nodes.map((n) => n.cpuSeconds))));
  const redis = perCreate((x) => sum(x.acceptors.map((a) => a.cpuSeconds)));
  if (Number.isNaN(redis)) return nodes;
  const rewrites = perCreate((x) => sum(x.acceptors.map((a) => a.childCpuSeconds)));
  const nats = perCreate((x) => sum(x.natsCpuSeconds));
  const client = perCreate((x) => x.clientCpuSeconds ?? NaN);
  return `${nodes}, ${show(redis + rewrites)} (${show(rewrites)}), ${show(nats)}, ${show(client)}`;
}

/** The run as Markdown: one row per tenth, then the restart and the rebuild. */
export function formatScale(r: ScaleResult): string {
  const o = r.options;
  const lines = [
    `${o.keys.toLocaleString("en")} creates of ${o.valueBytes}-byte values, ${o.concurrency} in ` +
      `flight, ${o.natsServers} NATS server(s), acceptors: ${o.acceptors}; ${r.errors} errors` +
      (r.refused === undefined ? "" : `; ${r.refused} refused by admission control and sent again`),
    "",
    `| ${HEAD.join(" | ")} |`, `|${HEAD.map(() => "---").join("|")}|`,
    ...r.samples.map((s, i) => formatRow(s, r.samples[i - 1] ?? null)),
  ];
  for (const [kind, count] of Object.entries(r.errorKinds ?? {})) {
    lines.push("", `${count} × ${kind}`);
  }
  const rs = r.restart;
  lines.push("", `Learner restart (${rs.node}, SIGKILL then start): /readyz in ` +
    `${rs.readyMs.toFixed(0)} ms, every key held in ${rs.caughtUpMs.toFixed(0)} ms, resumed ` +
    `at stream sequence ${rs.from} with ${rs.pending} pending (a replay starts at 1), ` +
    `RSS ${mb(rs.rssMb)} MB after.`);
  if (r.rebuild !== null) {
    lines.push(`Full rebuild on request (every learner): ${(r.rebuild.ms / 1000).toFixed(1)} s, ` +
      `peak RSS ${Object.entries(r.rebuild.peakRssMb).map(([id, v]) => `${id} ${mb(v)}`)
        .join(", ")} MB.`);
  }
  return lines.join("\n");
}

/** An earlier run's JSON (`--from`), or a clear error saying why it is not one. */
export function readScale(file: string): ScaleResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, `cannot read the run ${file}: ` +
      `${err instanceof Error ? err.message : String(err)}`);
  }
  const r = parsed as Partial<ScaleResult> | null;
  if (typeof r?.options?.keys !== "number" || !Array.isArray(r.samples) || r.samples.length === 0 ||
    typeof r.restart?.readyMs !== "number" || typeof r.errors !== "number") {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST,
      `${file} is not the JSON of a \`bench --scale\` run (options, samples, restart, errors)`);
  }
  return r as ScaleResult;
}

export function writeScale(r: ScaleResult, outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}/scale-${r.options.keys}-${r.when.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

/** A node's CPU seconds and RSS as this bench reports them (NaN for a process that is gone). */
function cpuSeconds(pid: number | undefined): number {
  return processCpuSeconds(pid, NaN);
}

function rssMb(pid: number | undefined): number {
  return processRssMb(pid, NaN);
}
