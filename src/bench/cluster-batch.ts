/**
 * `npx tsx src/bench/cluster-batch.ts [batches=200] [size=64]`: the group commit of an acceptor
 * on a Redis Cluster. A batch of Prepares spans many buckets, one script call each; the store
 * sends the calls for one primary in one pipeline, which Redis reads, runs and fsyncs together.
 * Counts the fdatasync calls of one primary (strace) per batch, and the time per batch, for the
 * store's pipelines and for the same calls sent one after another.
 */
import { execFileSync, spawn } from "node:child_process";
import { RedisClusterAcceptorStore } from "../adapters/redis/cluster-store.js";
import { ballot } from "../core/ballot.js";
import { cleanup, startRedisCluster, type ServerHandle } from "../dev/servers.js";

const BATCHES = Number(process.argv[2] ?? 200);
const SIZE = Number(process.argv[3] ?? 64);

function pidOf(server: ServerHandle): number {
  return Number(execFileSync("pgrep", ["-f", `redis-server 127.0.0.1:${server.port}\\b`])
    .toString().trim().split("\n")[0]);
}

/** Runs `work` while strace counts one process's fdatasync calls; null without strace. */
async function fsyncsDuring(pid: number, work: () => Promise<void>): Promise<number | null> {
  const strace = spawn("strace", ["-f", "-c", "-e", "trace=fdatasync,fsync", "-p", String(pid)],
    { stdio: ["ignore", "ignore", "pipe"] });
  let report = "";
  strace.stderr.on("data", (chunk: Buffer) => { report += chunk.toString(); });
  await new Promise((resolve) => setTimeout(resolve, 500)); // attached
  await work();
  strace.kill("SIGINT");
  await new Promise((resolve) => strace.once("exit", resolve));
  // strace -c rows: % time, seconds, usecs/call, calls, [errors,] syscall.
  const row = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?f(?:data)?sync$/gm;
  const calls = [...report.matchAll(row)];
  return calls.length === 0 ? (/attach|not permitted/i.test(report) ? null : 0)
    : calls.reduce((sum, m) => sum + Number(m[1]), 0);
}

async function main(): Promise<void> {
  const cluster = await startRedisCluster();
  const store = new RedisClusterAcceptorStore({ acceptorId: "A", seeds: cluster.url.split(",") });
  await store.restore([], "bench"); // a new store's recovery, with nothing to recover
  store.serveAs("bench");
  const pid = pidOf(cluster.primaries[0] as ServerHandle);
  let round = 1;
  const batch = (offset: number) => Array.from({ length: SIZE }, (_, i) =>
    ({ type: "prepare" as const, key: `b.${offset}.${i}`, ballot: ballot(round, "A") }));
  try {
    for (const mode of ["pipelined", "one by one"] as const) {
      round++;
      const started = performance.now();
      const fsyncs = await fsyncsDuring(pid, async () => {
        for (let n = 0; n < BATCHES; n++) {
          const msgs = batch(n);
          if (mode === "pipelined") await store.prepareMany(msgs);
          else for (const msg of msgs) await store.prepare(msg);
        }
      });
      const ms = (performance.now() - started - 500) / BATCHES;
      console.log(`${mode}: ${BATCHES} batches of ${SIZE} Prepares, ${ms.toFixed(2)} ms a batch; ` +
        `fdatasync on one of 3 primaries: ${fsyncs === null ? "not measured (no strace)" :
          `${fsyncs} (${(fsyncs / BATCHES).toFixed(2)} a batch)`}`);
    }
  } finally {
    await store.close();
    await cleanup();
  }
}

await main();
