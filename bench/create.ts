/**
 * A small benchmark on a local cluster (nats-server, three redis-server with appendfsync
 * always, nodes A, B, C as processes): create latency sequential and with 64 in flight, and
 * reads. Also a NATS request-reply round trip as the baseline measured in the same run.
 * Usage: npm run bench [-- --seq 500 --par 5000 --inflight 64]
 */
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { PaxosKvClient } from "../src/client/client.js";
import { startLocalCluster } from "../src/dev/cluster.js";
import { cleanup } from "../src/dev/servers.js";

const { values } = parseArgs({ options: {
  seq: { type: "string", default: "500" }, par: { type: "string", default: "5000" },
  inflight: { type: "string", default: "64" },
} });
const seqCount = Number(values.seq);
const parCount = Number(values.par);
const inFlight = Number(values.inflight);

interface Row { what: string; n: number; p50: number; p99: number; opsPerSec: number }
const rows: Row[] = [];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

/** Runs `op(i)` for i < n with `concurrency` in flight; records each latency. */
async function measure(what: string, n: number, concurrency: number,
  op: (i: number) => Promise<unknown>): Promise<void> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const t = performance.now();
      await op(i);
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  rows.push({ what, n, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99),
    opsPerSec: n / seconds });
}

const cluster = await startLocalCluster({ logLevel: "warn" });
try {
  await Promise.all(cluster.acceptors.map((id) => cluster.spawnNode(id)));
  const client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 10_000 });
  const raw = await connect({ servers: cluster.nats.url });
  raw.subscribe("bench.echo", { callback: (_e, m) => void m.respond(m.data) });
  await raw.flush();
  const run = Date.now().toString(36);

  await measure("warm-up creates", 200, 8, (i) => client.create(`w${run}.${i}`, "v"));
  rows.length = 0;
  await measure("baseline: NATS request-reply", seqCount, 1, () => client.nc.request("bench.echo", "x"));
  await measure("create, sequential", seqCount, 1, (i) => client.create(`s${run}.${i}`, "value"));
  await measure(`create, ${inFlight} in flight`, parCount, inFlight,
    (i) => client.create(`p${run}.${i}`, "value"));
  await measure(`create race (2 values/key), ${inFlight} in flight`, parCount, inFlight,
    (i) => client.create(`r${run}.${i >> 1}`, `value-${i & 1}`));
  await measure("get, hit, sequential", seqCount, 1, (i) => client.get(`s${run}.${i}`));
  await measure("get, miss (quorum read), sequential", seqCount, 1,
    (i) => client.get(`missing${run}.${i}`));
  await measure(`replica-get, ${inFlight} in flight`, parCount, inFlight,
    (i) => client.get(`p${run}.${i}`, { replica: true }));

  console.log(`paxoskv bench: 3 acceptors (redis appendfsync always), 3 nodes, loopback, ` +
    `${new Date().toISOString()}`);
  console.log("| what | n | p50 ms | p99 ms | ops/s |\n|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.what} | ${r.n} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ` +
      `${r.opsPerSec.toFixed(0)} |`);
  }
  await raw.close();
  await client.close();
} finally {
  await cluster.stopNodes();
  await cleanup();
}
