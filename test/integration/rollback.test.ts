/**
 * Issue 13 part 3: an acceptor's Redis rolled back (a backup restored, a replica promoted)
 * carries the same incarnation marker with older promises; before, it voted with them. Now
 * every write bumps a counter in the store, the node records the counter's mark in the
 * registry, and a store below its mark refuses to vote until `acceptor rejoin`.
 */
import { cpSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AcceptorRegistry } from "../../src/adapters/jetstream/acceptor-registry.js";
import { checkHistory } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { AcceptorRedisReads } from "../../src/node/roles/direct-reads.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import { Recorder, isOk } from "../chaos/recorder.js";
import { AcceptorRedis, poll, spawnWithHttp } from "./support/cluster-tools.js";
import { cleanup, type ServerHandle } from "./support/servers.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
let nc: NatsConnection;
let acceptorRedis: AcceptorRedis;
let nodes: Map<string, NodeProcess>;
let httpPorts: Map<string, number>;
const logs = new Map<string, string>();
const log = (id: string) => logs.get(id) ?? "";

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "info",
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "2000" },
    echo: (id, text) => logs.set(id, log(id) + text) });
  ({ nodes, httpPorts } = await spawnWithHttp(cluster));
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 3000 });
  nc = await connect({ servers: cluster.natsUrl });
  acceptorRedis = new AcceptorRedis(cluster);
}, 120_000);

afterAll(async () => {
  acceptorRedis?.close();
  await nc?.close();
  await client?.close();
  await cluster?.stopNodes();
  await cleanup();
});

const node = (id: string) => nodes.get(id) as NodeProcess;
const redisOf = (id: string) => cluster.redis.get(id) as ServerHandle;
/** `/votingz`: whether the node's acceptor votes, and why not (its node keeps serving). */
const votingz = async (id: string) => {
  const res = await fetch(`http://127.0.0.1:${httpPorts.get(id)}/votingz`);
  return { status: res.status, ...(await res.json() as
    { voting: boolean; reason?: string; checks: Record<string, unknown> }) };
};
const registry = async () => new Kvm(nc).open(`${cluster.prefix}_acceptors`);

async function rejoin(id: string): Promise<Record<string, unknown>> {
  const reply = await nc.request(paxosRejoinSubject(cluster.prefix, id), "", { timeout: 60_000 });
  return reply.json<Record<string, unknown>>();
}

it("a store written by scripts without the counter, registered without a mark, still votes",
  async () => {
    // Old scripts wrote no counter and old nodes registered {incarnation} alone.
    await node("C").stop();
    const raw = acceptorRedis.client("C");
    await raw.del(`${cluster.prefix}:acc:C:~writes`);
    const incarnation = await raw.get(`${cluster.prefix}:acc:C:~incarnation`);
    const kv = await registry();
    await kv.put("C", JSON.stringify({ incarnation }));
    const since = log("C").length;
    await node("C").start();
    await poll("C voting", async () => (await votingz("C")).voting ?
      true : undefined);
    expect(log("C").slice(since)).not.toMatch(/rolled-back|older than/);
    for (let i = 0; i < 5; i++) expect((await client.create(`old.${i}`, "v")).created).toBe(true);
    // From then on the new scripts count, and the node records the mark.
    await poll("C's mark recorded", async () => {
      const entry = await kv.get("C");
      const mark = (entry?.json<{ mark?: number }>().mark) ?? 0;
      return mark > 0 ? true : undefined;
    });
  }, 60_000);

it("a restored backup of an acceptor's Redis refuses to vote; rejoin brings it back, nothing lost",
  async () => {
    const recorder = new Recorder();
    const createAll = async (prefix: string, n: number) => {
      for (let i = 0; i < n; i++) {
        await recorder.create(client, "w", `${prefix}.${i}`, `${prefix}-${i}`);
      }
    };
    await createAll("before", 20);

    // A backup of A's Redis: its AOF dir copied while A's Redis is stopped.
    const backup = join(tmpdir(), `paxoskv-backup-${process.pid}`);
    await node("A").stop();
    await redisOf("A").stop();
    cpSync(join(redisOf("A").dir, "appendonlydir"), backup, { recursive: true });
    await redisOf("A").restart();
    await node("A").start();
    await cluster.waitAcceptorsVoting();

    // More accepts A takes part in, with C's node down (so only A and B hold these keys);
    // the clean stop records A's last writes.
    await node("C").stop();
    await createAll("after", 40);
    await node("C").start();
    await cluster.waitAcceptorsVoting();
    await node("A").stop();

    // The backup is restored.
    await redisOf("A").stop();
    rmSync(join(redisOf("A").dir, "appendonlydir"), { recursive: true, force: true });
    cpSync(backup, join(redisOf("A").dir, "appendonlydir"), { recursive: true });
    rmSync(backup, { recursive: true, force: true });
    await redisOf("A").restart();
    // Before A's node even starts, a direct quorum read (a node reading each acceptor's Redis)
    // must not count the restored store: A's old state would say "nothing accepted" for keys
    // only A and B hold, and with C that is a majority saying a chosen key is absent.
    const direct = await AcceptorRedisReads.open({
      urls: new Map([["A", redisOf("A").url]]), registry: await AcceptorRegistry.open(nc,
        cluster.prefix), prefix: cluster.prefix, commandTimeoutMs: 2000,
      log: createLogger("T", "silent"),
    });
    for (let i = 0; i < 5; i++) {
      await expect(direct.read("A", `after.${i}`), `after.${i}`)
        .rejects.toThrow(/PAXOSKV_FENCED .*rolled back/);
    }
    await direct.close();

    // A starts: it must not vote with the older state.
    const since = log("A").length;
    await node("A").start();
    const refused = await poll("A refusing", async () => {
      const r = await votingz("A").catch(() => null);
      return typeof r?.reason === "string" && r.reason !== "starting" ? r : undefined;
    });
    expect(refused.status).toBe(503);
    expect(refused.checks["acceptorVoting"]).toBe(false);
    expect(refused.reason).toMatch(/^rolled-back: .*restored from a backup/);
    expect(log("A").slice(since)).toMatch(/acceptor rejoin A/);
    expect(log("A").slice(since)).not.toMatch(/Restore its AOF/);
    // Retired in the store itself: every script refuses it.
    expect(await acceptorRedis.client("A").get(`${cluster.prefix}:acc:A:~incarnation`))
      .toMatch(/^retired:/);
    // A does not vote: with B down, {A, C} is no majority.
    await node("B").kill("SIGKILL");
    await recorder.create(client, "w", "while-refused", "x");
    expect(recorder.ops.at(-1)?.outcome.type).not.toBe("created");
    await node("B").start();

    expect(await rejoin("A")).toMatchObject({ ok: true, acceptor: "A" });
    await poll("A voting", async () => (await votingz("A")).voting ? true : undefined);
    // Nothing lost: with B down, A and C answer every acknowledged key.
    await node("B").kill("SIGKILL");
    recorder.phase = "final";
    const acked = recorder.ops.filter((op) => op.kind === "create" && isOk(op));
    expect(acked.length).toBe(60);
    for (const op of acked) {
      let read = await recorder.read(client, "final", op.key, false);
      // A request that reached B just as it died times out: ask again.
      for (let i = 0; !isOk(read) && i < 5; i++) read = await recorder.read(client, "final", op.key, false);
      expect(read.outcome, op.key).toEqual({ type: "value", value: op.value });
    }
    await node("B").start();
    expect(checkHistory(recorder.ops, { durabilityPhases: ["final"] }).anomalies).toEqual([]);
  }, 120_000);
