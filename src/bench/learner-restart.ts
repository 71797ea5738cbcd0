/**
 * A learner-only node's memory as keys grow, and its time to catch up after a restart (resume
 * from its replica on disk) against a learner with an empty data directory (one replay).
 *
 *   npx tsx src/bench/learner-restart.ts [keys=100000] [valueBytes=100]
 *
 * Runs its own servers (nats-server, redis-server from PATH) and nodes A, B, C (proposer,
 * acceptor) plus learners L and M, as `paxoskv dev` does. Ready: /readyz answers 200 and the
 * replica holds every key. Times include starting the node process (tsx compiles the source).
 */
import { readFileSync } from "node:fs";
import { PaxosKvClient } from "../client/client.js";
import { startLocalCluster, type NodeProcess } from "../dev/cluster.js";
import { cleanup, freePort } from "../dev/servers.js";

const KEYS = Number(process.argv[2] ?? 100_000);
const VALUE = "v".repeat(Number(process.argv[3] ?? 100));
const STEPS = 4;

function rssMb(node: NodeProcess): number {
  const status = readFileSync(`/proc/${node.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

/** The node's RSS and V8 heap in use (after a full GC would be kinder; this is as it runs). */
async function memory(node: NodeProcess): Promise<string> {
  const metrics = await (await fetch(`http://127.0.0.1:${node.env.PAXOSKV_HTTP_PORT}/metrics`))
    .text();
  const heap = Number(/^paxoskv_process_nodejs_heap_size_used_bytes\{[^}]*\} (\d+)/m
    .exec(metrics)?.[1] ?? NaN) / 1e6;
  return `RSS ${rssMb(node).toFixed(0)} MB, heap used ${heap.toFixed(0)} MB`;
}

/** Resolves when `node`'s /readyz answers 200 holding `size` keys; returns ms since `from`. */
async function ready(node: NodeProcess, size: number, from: number): Promise<number> {
  const url = `http://127.0.0.1:${node.env.PAXOSKV_HTTP_PORT}`;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    const metrics = ok ? await (await fetch(`${url}/metrics`)).text() : "";
    const keys = Number(/^paxoskv_replica_keys\{[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? -1);
    if (keys >= size) return performance.now() - from;
    if (performance.now() - from > 600_000) throw new Error(`${node.id} did not catch up`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

try {
  const cluster = await startLocalCluster({ logLevel: "info" });
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, "proposer,acceptor")));
  const learner = await cluster.spawnNode("L", "learner",
    { PAXOSKV_HTTP_PORT: String(await freePort()) });
  const client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 30_000,
    retries: 20 });
  console.log(`L ${await memory(learner)} at 0 keys`);
  let created = 0;
  const started = performance.now();
  for (let step = 1; step <= STEPS; step++) {
    const until = Math.round((KEYS * step) / STEPS);
    let next = created;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < until) {
        const i = next++;
        const reply = await client.create(`bench.${i}`, VALUE);
        if (reply.value !== VALUE) throw new Error(`bench.${i} holds another value`);
      }
    }));
    created = until;
    await ready(learner, created, performance.now());
    console.log(`L ${await memory(learner)} at ${created} keys ` +
      `(${Math.round(created / ((performance.now() - started) / 1000))} creates/s so far)`);
  }
  await learner.kill("SIGKILL");
  let t0 = performance.now();
  await learner.start();
  console.log(`L restarted (resume): ready in ${(await ready(learner, KEYS, t0))
    .toFixed(0)} ms, ${await memory(learner)}`);
  t0 = performance.now();
  const fresh = await cluster.spawnNode("M", "learner",
    { PAXOSKV_HTTP_PORT: String(await freePort()) });
  console.log(`M with an empty data dir (replay): ready in ${(await ready(fresh, KEYS, t0))
    .toFixed(0)} ms, ${await memory(fresh)}`);
  await client.close();
  await cluster.stopNodes();
} finally {
  await cleanup();
}
