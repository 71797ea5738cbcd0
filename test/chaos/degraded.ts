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
import { measure, Progress, type Result } from "../../src/bench/measure.js";

const SEQUENTIAL = 400;
const PARALLEL = 4000;

const cluster = await startLocalCluster({ logLevel: "warn" });
try {
  const nodes = await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  const client = new PaxosKvClient(await connect({ servers: cluster.natsUrl }), { timeoutMs: 5000 });
  const progress = new Progress();
  const creates = (tag: string, count: number, inFlight: number) => measure("paxoskv", tag, count,
    inFlight, (i) => client.create(`deg.${tag}.${i}`, "v"), progress);
  await creates("warm", 300, 16);
  const rows: string[] = [];
  const results: Record<string, Result> = {};
  for (const phase of ["all up", "C down"] as const) {
    if (phase === "C down") {
      await nodes[2]?.kill("SIGTERM");
      await (cluster.redis.get("C") as ServerHandle).stop();
      await creates("warm2", 300, 16);
    }
    for (const [name, count, inFlight] of [["sequential", SEQUENTIAL, 1], ["64 in flight", PARALLEL, 64]] as const) {
      const r = await creates(`${phase.replace(" ", "")}.${inFlight}`, count, inFlight);
      results[`${phase}/${name}`] = r;
      rows.push(`| ${phase} | ${name} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ` +
        `${Math.round(r.opsPerSec)} | ${r.errors} |`);
    }
  }
  console.log("| acceptors | creates | p50 ms | p99 ms | ops/s | errors |\n|---|---|---|---|---|---|");
  console.log(rows.join("\n"));
  for (const name of ["sequential", "64 in flight"]) {
    const base = results[`all up/${name}`];
    const down = results[`C down/${name}`];
    if (base && down) console.log(`${name}: p99 with C down = ${(down.p99Ms / base.p99Ms).toFixed(2)}× the baseline`);
  }
  await client.close();
} finally {
  await cluster.stopNodes();
  await cleanup();
}
