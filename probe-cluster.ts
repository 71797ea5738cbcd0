import { Redis } from "ioredis";
import { RedisClusterAcceptorStore } from "./src/adapters/redis/cluster-store.js";
import { startRedisCluster, cleanup } from "./src/dev/servers.js";
const cluster = await startRedisCluster();
const store = new RedisClusterAcceptorStore({ acceptorId: "A", seeds: cluster.url.split(",") });
await store.restore([], "bench"); store.serveAs("bench");
const nodes = cluster.primaries.map((p) => new Redis(p.port, "127.0.0.1"));
async function stat() { let cpu = 0, calls = 0; for (const n of nodes) { const t = await n.info("cpu"); cpu += Number(/used_cpu_sys:([\d.]+)/.exec(t)![1]) + Number(/used_cpu_user:([\d.]+)/.exec(t)![1]); const c = await n.info("commandstats"); calls += Number(/cmdstat_evalsha:calls=(\d+)/.exec(c)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(c)?.[1] ?? 0); } return { cpu, calls }; }
let n = 0;
for (const size of [18, 64]) {
  const s0 = await stat(), t0 = performance.now(), u0 = process.cpuUsage(); const B = 300;
  for (let b = 0; b < B; b++) {
    const msgs = Array.from({ length: size }, () => ({ type: "accept" as const, key: `k.${n++}`, ballot: { round: 0, nodeId: "fast" }, value: "v".repeat(24), proposalId: "p" }));
    const r = await store.acceptMany(msgs as never);
    if (r.some((x) => x === null || x.type !== "accepted")) throw new Error("bad reply " + JSON.stringify(r));
  }
  const s1 = await stat(), t1 = performance.now(), u1 = process.cpuUsage(u0);
  console.log(`batches of ${size}: Redis CPU ${((s1.cpu - s0.cpu) * 1e6 / (B * size)).toFixed(1)} us/item, ${((s1.calls - s0.calls) / B).toFixed(2)} script calls/batch, ${((t1 - t0) / B).toFixed(2)} ms/batch, client CPU ${((u1.user + u1.system) / (B * size)).toFixed(1)} us/item`);
}
console.log("read back", JSON.stringify(await store.read("k.5")));
await store.close(); for (const x of nodes) x.disconnect(); await cleanup(); process.exit(0);
