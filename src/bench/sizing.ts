/**
 * `npm run bench:sizing -- --keys 50000`: what N creates of 100-byte values cost each part of a
 * local cluster (3 nodes with every role, 3 acceptor Redis, one nats-server): each acceptor
 * Redis's `used_memory` and AOF size, each learner's replica on disk, each node's RSS, the
 * nats-server's RSS and JetStream store, per key. The numbers behind docs/operations.md's sizing.
 * `--redis-cluster`: each acceptor on a 3-primary Redis Cluster (its primaries summed).
 * `--listpack-value N`: sets `hash-max-listpack-value` on every acceptor Redis first (64 is
 * Redis's default; what we ship is 1024), to compare.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { PaxosKvClient } from "../client/client.js";
import { startLocalCluster } from "../dev/cluster.js";
import { cleanup, type ServerHandle } from "../dev/servers.js";

const VALUE = "v".repeat(100);

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const status = execFileSync("cat", [`/proc/${pid}/status`]).toString();
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function pidOfPort(port: number): number | undefined {
  const out = execFileSync("pgrep", ["-f", `nats-server.* -p ${port}\\b`]).toString().trim()
    .split("\n")[0];
  return out === undefined || out === "" ? undefined : Number(out);
}

function duBytes(dir: string): number {
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    bytes += s.isDirectory() ? duBytes(p) : s.size;
  }
  return bytes;
}

async function usedMemory(servers: readonly ServerHandle[]): Promise<number> {
  let bytes = 0;
  for (const server of servers) {
    const redis = new Redis(server.url);
    try {
      const info = await redis.info("memory");
      bytes += Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    } finally {
      redis.disconnect();
    }
  }
  return bytes;
}

async function configSet(servers: readonly ServerHandle[], name: string, value: string):
  Promise<void> {
  for (const server of servers) {
    const redis = new Redis(server.url);
    await redis.config("SET", name, value).finally(() => redis.disconnect());
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    keys: { type: "string", default: "50000" }, "redis-cluster": { type: "boolean" },
    "listpack-value": { type: "string" },
  } });
  const keys = Number(values.keys);
  const cluster = await startLocalCluster({ logLevel: "warn",
    redisCluster: values["redis-cluster"] === true });
  const redisOf = (id: string): ServerHandle[] => {
    const one = cluster.redis.get(id);
    return one === undefined ? [...cluster.redisClusters.get(id)?.primaries ?? []] : [one];
  };
  try {
    if (values["listpack-value"] !== undefined) {
      for (const id of cluster.acceptors) {
        await configSet(redisOf(id), "hash-max-listpack-value", values["listpack-value"]);
      }
    }
    const nodes = await Promise.all(cluster.acceptors.map((id) => cluster.spawnNode(id)));
    const client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 30_000,
      retries: 3 });
    const natsPid = pidOfPort(cluster.nats.port);
    const measure = async () => ({
      redis: await Promise.all(cluster.acceptors.map((id) => usedMemory(redisOf(id)))),
      aof: cluster.acceptors.map((id) => redisOf(id).reduce((sum, r) => sum + duBytes(r.dir), 0)),
      replica: nodes.map((n) => duBytes(n.env.PAXOSKV_DATA_DIR ?? "")),
      nodeRss: nodes.map((n) => rssMb(n.pid)),
      natsRss: rssMb(natsPid),
      jetstream: duBytes(cluster.nats.dir),
    });
    const before = await measure();
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: 128 }, async () => {
      while (next < keys) await client.create(`size.${next++}`, VALUE);
    }));
    const seconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 2000)); // learners and AOF settle
    const after = await measure();
    await client.close();
    const per = (a: number, b: number) => ((a - b) / keys).toFixed(0);
    const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    console.log(`${keys.toLocaleString("en")} creates of 100-byte values in ${seconds.toFixed(1)} s ` +
      `(${(keys / seconds).toFixed(0)}/s)\n`);
    console.log("| part | before | after | bytes per key |");
    console.log("|---|---|---|---|");
    const row = (part: string, b: number, a: number, unit = 1e6) =>
      console.log(`| ${part} | ${(b / unit).toFixed(1)} MB | ${(a / unit).toFixed(1)} MB | ${per(a, b)} |`);
    row("acceptor Redis used_memory (each, mean)", avg(before.redis), avg(after.redis));
    row("acceptor AOF on disk (each, mean)", avg(before.aof), avg(after.aof));
    row("learner replica on disk (each, mean)", avg(before.replica), avg(after.replica));
    row("node RSS (each, mean)", avg(before.nodeRss) * 1048576, avg(after.nodeRss) * 1048576);
    row("nats-server RSS", before.natsRss * 1048576, after.natsRss * 1048576);
    row("JetStream store on disk", before.jetstream, after.jetstream);
  } finally {
    await cluster.stopNodes();
    await cleanup();
  }
}

await main();
