/**
 * Matrix row C3: one acceptor down for the whole run. Creates on fresh keys, sequential and 64
 * in flight, first with every acceptor up (the baseline), then with acceptor C's node and Redis
 * stopped, in one run on the same servers; prints p50/p99 of both and their ratio (the target:
 * p99 within 2× the baseline). Numbers, not a timed test: `npm run chaos:degraded`.
 */
import { connect } from "@nats-io/transport-node";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster } from "../../src/dev/cluster.js";
import { cleanup, type ServerHandle } from "../../src/dev/servers.js";

const SEQUENTIAL = 400;
const PARALLEL = 4000;

async function measure(client: PaxosKvClient, tag: string, count: number, inFlight: number):
  Promise<{ p50: number; p99: number; perSecond: number; errors: number }> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      try {
        await client.create(`deg.${tag}.${i}`, "v");
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), perSecond: latencies.length / seconds, errors };
}

const cluster = await startLocalCluster({ logLevel: "warn" });
try {
  const nodes = await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  const client = new PaxosKvClient(await connect({ servers: cluster.natsUrl }), { timeoutMs: 5000 });
  await measure(client, "warm", 300, 16);
  const rows: string[] = [];
  const results: Record<string, Awaited<ReturnType<typeof measure>>> = {};
  for (const phase of ["all up", "C down"] as const) {
    if (phase === "C down") {
      await nodes[2]?.kill("SIGTERM");
      await (cluster.redis.get("C") as ServerHandle).stop();
      await measure(client, "warm2", 300, 16);
    }
    for (const [name, count, inFlight] of [["sequential", SEQUENTIAL, 1], ["64 in flight", PARALLEL, 64]] as const) {
      const r = await measure(client, `${phase.replace(" ", "")}.${inFlight}`, count, inFlight);
      results[`${phase}/${name}`] = r;
      rows.push(`| ${phase} | ${name} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ` +
        `${Math.round(r.perSecond)} | ${r.errors} |`);
    }
  }
  console.log("| acceptors | creates | p50 ms | p99 ms | ops/s | errors |\n|---|---|---|---|---|---|");
  console.log(rows.join("\n"));
  for (const name of ["sequential", "64 in flight"]) {
    const base = results[`all up/${name}`];
    const down = results[`C down/${name}`];
    if (base && down) console.log(`${name}: p99 with C down = ${(down.p99 / base.p99).toFixed(2)}× the baseline`);
  }
  await client.close();
} finally {
  await cluster.stopNodes();
  await cleanup();
}
