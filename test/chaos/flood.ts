/**
 * Matrix row D5: a flood from one client. One client creates sequentially (its p50/p99 alone
 * is the baseline), then again while another connection fires create requests at a fixed rate
 * (default 10,000/s, fresh keys, not waiting for replies; from another process) for the same
 * time; prints both, their
 * ratio (the row's target: p99 < 2× the baseline), the flood's outcomes, and the nodes' RSS
 * before and after. Numbers, not a timed test:
 * `npm run chaos:flood -- [--rate N] [--time S] [--max-in-flight N]`.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { cleanup } from "../../src/dev/servers.js";
import { percentile } from "../../src/bench/measure.js";

const { values } = parseArgs({ options: {
  rate: { type: "string", default: "10000" }, time: { type: "string", default: "20" },
  // The nodes' PAXOSKV_MAX_IN_FLIGHT (their default when not given).
  "max-in-flight": { type: "string" },
} });
const rate = Number(values.rate);
const FLOODER = fileURLToPath(new URL("./flooder.ts", import.meta.url));
const seconds = Number(values.time);

function rssMb(node: NodeProcess): number {
  const status = readFileSync(`/proc/${node.pid ?? 0}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function sequential(client: PaxosKvClient, tag: string, until: number) {
  const latencies: number[] = [];
  let errors = 0;
  for (let i = 0; performance.now() < until; i++) {
    const t0 = performance.now();
    try {
      await client.create(`flood.${tag}.${i}`, "v");
      latencies.push(performance.now() - t0);
    } catch {
      errors++;
    }
  }
  latencies.sort((a, b) => a - b);
  return { ops: latencies.length, errors, p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99) };
}

const cluster = await startLocalCluster({ logLevel: "warn" });
try {
  const maxInFlight = values["max-in-flight"];
  const nodes = await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, undefined,
    maxInFlight === undefined ? {} : { PAXOSKV_MAX_IN_FLIGHT: maxInFlight })));
  const client = new PaxosKvClient(await connect({ servers: cluster.natsUrl }), { timeoutMs: 5000 });
  await sequential(client, "warm", performance.now() + 2000);
  const rssBefore = nodes.map(rssMb);
  const baseline = await sequential(client, "base", performance.now() + seconds * 1000);

  // The flood runs in its own process (test/chaos/flooder.ts): in this one its 10,000 reply
  // callbacks a second would delay the measured client's own. The measurement starts when
  // the flood does (the process takes a moment to load and connect).
  const flooder = spawn(process.execPath, ["--import", "tsx", FLOODER, cluster.natsUrl,
    cluster.prefix, String(rate), String(seconds)], { stdio: ["ignore", "pipe", "inherit"] });
  let floodOutput = "";
  const flooding = new Promise<void>((resolve) => {
    flooder.stdout.on("data", (d: Buffer) => {
      floodOutput += d.toString();
      if (floodOutput.startsWith("flooding\n")) resolve();
    });
  });
  const floodDone = new Promise<void>((resolve) => flooder.on("close", () => resolve()));
  await Promise.race([flooding, floodDone]);
  const during = await sequential(client, "flooded", performance.now() + seconds * 1000);
  const rssPeak = nodes.map(rssMb);
  await floodDone;
  const rssAfter = nodes.map(rssMb);
  const flood = JSON.parse(floodOutput.trim().split("\n").at(-1) ?? "{}") as
    { sent?: number; outcomes?: Record<string, number> };

  const fmt = (r: typeof baseline) => `${r.ops} ops, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.errors} errors`;
  console.log(`baseline (alone):        ${fmt(baseline)}`);
  console.log(`during a ${rate}/s flood: ${fmt(during)}`);
  console.log(`p99 ratio: ${(during.p99 / baseline.p99).toFixed(1)}× (target < 2×)`);
  console.log(`flood: ${flood.sent} requests sent in ${seconds} s; outcomes ${JSON.stringify(flood.outcomes)}`);
  console.log(`node RSS MB before / at the flood's end / after it drained: ` +
    nodes.map((n, i) => `${n.id} ${rssBefore[i]?.toFixed(0)} / ${rssPeak[i]?.toFixed(0)} / ${rssAfter[i]?.toFixed(0)}`).join(", "));
  await client.close();
} finally {
  await cluster.stopNodes();
  await cleanup();
}
