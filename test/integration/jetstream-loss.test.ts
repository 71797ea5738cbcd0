/**
 * Issue 13 part 5: JetStream loses its data (the NATS servers' stores removed) under load,
 * then one acceptor's Redis is wiped. Before, the registry was gone without a word, every
 * /readyz stayed 200, and the wiped acceptor registered a new incarnation at once and voted
 * with an empty store (amnesia). Now the loss is loud and the streams are made again, and an
 * empty store votes only after it has recovered from the other acceptors.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { checkHistory, observedValue } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { Recorder, isOk } from "../chaos/recorder.js";
import { sleep, Workload } from "../chaos/workload.js";
import { AcceptorRedis, poll, spawnWithHttp } from "./support/cluster-tools.js";
import { cleanup, type ServerHandle } from "./support/servers.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
let acceptorRedis: AcceptorRedis;
let httpPorts: Map<string, number>;
/** Everything each node printed (its output() keeps only the last lines). */
const logs = new Map<string, string>();
const log = (id: string) => logs.get(id) ?? "";

beforeAll(async () => {
  cluster = await startLocalCluster({ natsClusterSize: 3, logLevel: "info",
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "3000" },
    echo: (id, text) => logs.set(id, log(id) + text) });
  ({ httpPorts } = await spawnWithHttp(cluster));
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl.split(","), timeoutMs: 4000 });
  acceptorRedis = new AcceptorRedis(cluster);
}, 120_000);

afterAll(async () => {
  acceptorRedis?.close();
  await client?.close();
  await cluster?.stopNodes();
  await cleanup();
});

const readyz = async (id: string) => {
  const res = await fetch(`http://127.0.0.1:${httpPorts.get(id)}/readyz`);
  return (await res.json()) as { ready: boolean; checks: Record<string, unknown> };
};
const metric = async (id: string, name: string) => {
  const text = await (await fetch(`http://127.0.0.1:${httpPorts.get(id)}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith(name));
};

/** Acknowledged creates so far: key → the value the store answered. */
function acknowledged(recorder: Recorder): Map<string, string> {
  const out = new Map<string, string>();
  for (const op of recorder.ops) {
    if (op.kind === "create" && isOk(op)) out.set(op.key, observedValue(op) as string);
  }
  return out;
}

it("JetStream's data lost under load, then a Redis wiped: loud, recreated, no amnesia",
  async () => {
    const recorder = new Recorder();
    const workload = new Workload({ seed: 13, clients: [client], recorder, processes: 4,
      thinkMs: 5 });
    workload.start();
    await poll("50 acknowledged creates", async () =>
      acknowledged(recorder).size >= 50 ? true : undefined, { timeoutMs: 60_000 });

    // Every NATS server loses its JetStream store: the chosen stream and the registry go.
    // While they are down, C's Redis forgets everything too (its node keeps running).
    const before = acknowledged(recorder);
    expect(before.size).toBeGreaterThanOrEqual(50);
    const since = log("C").length;
    const logC = () => log("C").slice(since);
    await Promise.all(cluster.natsServers.map((s) => s.kill("SIGKILL")));
    for (const s of cluster.natsServers) rmSync(join(s.dir, "jetstream"), { recursive: true, force: true });
    const raw = new Redis((cluster.redis.get("C") as ServerHandle).url);
    await raw.flushall();
    raw.disconnect();
    await Promise.all(cluster.natsServers.map((s) => s.restart()));

    // Loud: logged with what to do, counted, and both streams made again.
    await poll("the loss logged and the streams made again", async () => {
      const out = cluster.acceptors.map((id) => log(id)).join("\n");
      return /PAXOSKV_CHOSEN .*is gone: JetStream lost its data/.test(out) &&
        /KV_paxoskv_acceptors .*is gone/.test(out) &&
        /stream PAXOSKV_CHOSEN made again/.test(out) &&
        /stream KV_paxoskv_acceptors made again/.test(out) ? true : undefined;
    }, { timeoutMs: 60_000 });
    const lost = (await Promise.all(cluster.acceptors.map((id) =>
      metric(id, "paxoskv_jetstream_lost_total")))).flat();
    expect(lost.some((line) => /stream="acceptor-registry".*} [1-9]/.test(line)), lost.join("\n"))
      .toBe(true);

    await poll("C voting again", async () =>
      /"msg":"acceptor C votes"/.test(logC()) ? true : undefined,
    { timeoutMs: 60_000 });
    await poll("every node ready again", async () => (await Promise.all(cluster.acceptors
      .map(readyz))).every((r) => r.ready && r.checks["jetstream"] === true) ? true : undefined,
    { timeoutMs: 60_000 });
    // It voted again only after the recovery, not with its empty store.
    const lines = logC().split("\n");
    const stopped = lines.findIndex((l) => /acceptor C stops voting/.test(l));
    const votes = lines.findIndex((l, i) => i > stopped && /"msg":"acceptor C votes"/.test(l));
    const recovered = lines.findIndex((l) => /acceptor C recovered as a new store/.test(l));
    expect(stopped).toBeGreaterThanOrEqual(0);
    expect(recovered).toBeGreaterThan(stopped);
    expect(votes).toBeGreaterThan(recovered);
    // What it recovered: every key acknowledged before the wipe, with its value.
    for (const [key, value] of before) {
      expect((await acceptorRedis.read("C", key))["accepted_value"], key).toBe(value);
    }

    await sleep(2000);
    await workload.stop();

    // The history is linearizable and every acknowledged create reads back.
    recorder.phase = "final";
    for (const key of acknowledged(recorder).keys()) {
      let op = await recorder.read(client, "final", key, false);
      for (let attempt = 0; !isOk(op) && attempt < 10; attempt++) {
        op = await recorder.read(client, "final", key, false);
      }
    }
    const verdict = checkHistory(recorder.ops, { durabilityPhases: ["final"] });
    expect(verdict.anomalies).toEqual([]);
    for (const [key, value] of acknowledged(recorder)) {
      expect(await client.get(key), key).toMatchObject({ found: true, value });
    }
  }, 240_000);
