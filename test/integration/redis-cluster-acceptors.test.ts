/**
 * Issue 14 part 2: three acceptors, each on a Redis Cluster of its own (3 primaries, AOF fsync
 * always, no replicas), as real node processes. Creates, gets and quorum reads work as with one
 * Redis per acceptor; a primary of A's cluster that loses its data fences exactly A's buckets
 * it held (their keys do not vote, the others do), and `acceptor rejoin A` heals those buckets
 * while the others vote; the
 * write-once checker finds nothing wrong in the history.
 */
import { cpSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketOf, slotOfTag } from "../../src/adapters/redis/buckets.js";
import { checkHistory } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { paxosListSubject, paxosRejoinSubject } from "../../src/protocol/subjects.js";
import { WIRE_VERSION } from "../../src/protocol/wire.js";
import { Recorder, isOk } from "../chaos/recorder.js";
import { connectTo, poll, spawnWithHttp, tearDown } from "./support/cluster-tools.js";
import type { RedisClusterHandle, ServerHandle } from "./support/servers.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
let nc: NatsConnection;
let nodes: Map<string, NodeProcess>;
let httpPorts: Map<string, number>;
const raws: Redis[] = [];
const logs = new Map<string, string>();
const log = (id: string) => logs.get(id) ?? "";

beforeAll(async () => {
  cluster = await startLocalCluster({ redisCluster: true, logLevel: "info",
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "2000" },
    echo: (id, text) => logs.set(id, log(id) + text) });
  ({ nodes, httpPorts } = await spawnWithHttp(cluster));
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 3000 });
  nc = await connectTo(cluster);
}, 180_000);

afterAll(async () => {
  for (const r of raws) r.disconnect();
  await tearDown(cluster, client, nc);
});

const node = (id: string) => nodes.get(id) as NodeProcess;
const clusterOf = (id: string) => cluster.redisClusters.get(id) as RedisClusterHandle;
const raw = (server: ServerHandle) => {
  const r = new Redis(server.url);
  raws.push(r);
  return r;
};
const votingz = async (id: string) => {
  const res = await fetch(`http://127.0.0.1:${httpPorts.get(id)}/votingz`);
  return await res.json() as {
    voting: boolean; reason?: string; checks?: { acceptorVoting?: boolean };
  };
};

/** The primary of acceptor `id`'s cluster that holds the bucket of `key`. */
async function primaryPortOf(id: string, key: string): Promise<number> {
  const slots = await raw(clusterOf(id).primaries[0] as ServerHandle).cluster("SLOTS");
  const slot = slotOfTag(`${id}:${bucketOf(key)}`);
  const port = slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  if (port === undefined) throw new Error(`no primary holds slot ${slot}`);
  return port;
}

/** Every key acceptor A lists, page by page over NATS; null when a page was refused. */
async function listA(): Promise<Set<string> | null> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const page = await nc.request(paxosListSubject(cluster.prefix, "A"),
      JSON.stringify({ v: WIRE_VERSION, cursor, count: 200 }), { timeout: 5000 })
      .catch(() => null);
    if (page === null) return null;
    const body = page.json<{ cursor: string; keys: string[] }>();
    for (const key of body.keys) keys.add(key);
    cursor = body.cursor;
  } while (cursor !== "0");
  return keys;
}

describe("acceptors on Redis Clusters", () => {
  it("creates race, gets and quorum reads answer, over three cluster-backed acceptors",
    async () => {
      const recorder = new Recorder();
      const keys = Array.from({ length: 40 }, (_, i) => `race.${i}`);
      // Two writers race each key with their own value; both learn the one chosen.
      await Promise.all(["w1", "w2"].map((w) => Promise.all(keys.map((key) =>
        recorder.create(client, w, key, `${w}-${key}`)))));
      for (const key of keys) {
        await recorder.read(client, "r", key, false);
        await recorder.read(client, "r", key, true);
      }
      const created = recorder.ops.filter((op) => op.kind === "create" && op.outcome.type === "created");
      expect(created.length).toBe(keys.length); // exactly one winner per key
      expect(recorder.ops.every(isOk)).toBe(true);
      // A key nobody created: a majority of acceptors shows nothing accepted.
      expect(await client.get("never.created")).toMatchObject({ found: false });
      expect(checkHistory(recorder.ops).anomalies).toEqual([]);
      // Every acceptor's keys spread over all three primaries of its cluster.
      for (const id of cluster.acceptors) {
        for (const primary of clusterOf(id).primaries) {
          expect(await raw(primary).dbsize(), `${id} ${primary.url}`).toBeGreaterThan(0);
        }
      }
    }, 120_000);

  it("a wiped primary fences exactly its buckets of A; the rest votes; rejoin heals",
    async () => {
      const recorder = new Recorder();
      const before = Array.from({ length: 30 }, (_, i) => `pre.${i}`);
      await Promise.all(before.map((key) => recorder.create(client, "w", key, `v-${key}`)));

      const victim = clusterOf("A").primaries[1] as ServerHandle;
      const onVictim = async (key: string) => await primaryPortOf("A", key) === victim.port;
      const candidates = Array.from({ length: 120 }, (_, i) => `post.${i}`);
      const wiped: string[] = [];
      const intact: string[] = [];
      for (const key of candidates) (await onVictim(key) ? wiped : intact).push(key);
      expect(wiped.length).toBeGreaterThan(10);

      await raw(victim).flushall();
      // B is down: every create needs A's vote (with C's).
      await node("B").kill("SIGKILL");
      const since = log("A").length;
      // A request that reached B as it died times out: the client sends the same create
      // again (its retries), which resolves it.
      const retrying = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 3000,
        retries: 2 });
      const create = (key: string) => recorder.create(retrying, "w", key, `v-${key}`);
      await Promise.all([...wiped.slice(0, 10), ...intact.slice(0, 10)].map(create));
      const outcome = (key: string) =>
        recorder.ops.findLast((op) => op.kind === "create" && op.key === key)?.outcome.type;
      for (const key of intact.slice(0, 10)) expect(outcome(key), key).toBe("created");
      for (const key of wiped.slice(0, 10)) expect(outcome(key), key).not.toBe("created");
      // A still votes (with its other buckets), and says which part of it does not.
      const voting = await poll("A's status names the lost buckets", async () => {
        const v = await votingz("A");
        return v.reason?.includes("buckets") === true ? v : undefined;
      });
      expect(voting.voting).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPorts.get("A")}/metrics`)).text();
      expect(metrics).toMatch(/^paxoskv_acceptor_buckets_lost\{node="A"\} [1-9]\d*$/m);
      await poll("A's log names the lost buckets", async () =>
        /buckets of its Redis Cluster store lost their state/.test(log("A").slice(since)) ?
          true : undefined);

      await node("B").start();
      await poll("B voting", async () => (await votingz("B")).voting ? true : undefined);
      const lostBuckets = Number(/(\d+) buckets/.exec(voting.reason ?? "")?.[1]);
      const rejoining = nc.request(paxosRejoinSubject(cluster.prefix, "A"), "",
        { timeout: 60_000 });
      // Only the lost buckets recover: A votes with the others meanwhile.
      expect((await votingz("A")).voting).toBe(true);
      const report = (await rejoining).json<{ ok: boolean; parts: number; keys: number }>();
      expect(report).toMatchObject({ ok: true, acceptor: "A", parts: lostBuckets });
      expect(report.keys).toBeGreaterThan(0);
      expect(report.keys).toBeLessThan(recorder.ops.filter((o) => o.kind === "create").length);
      await poll("A votes with every bucket", async () =>
        (await votingz("A")).reason === undefined ? true : undefined);
      // Each healed bucket's counter jumped 2^32 past its mark (registered first: A votes),
      // so an old copy of the shard is below it; the other buckets' counters did not.
      const counters = async (server: ServerHandle) => (await Promise.all((await raw(server)
        .keys("*:acc:{A:*}:~writes")).map(async (k) => Number(await raw(server).get(k)))));
      const healed = await counters(victim);
      expect(healed.length).toBe(lostBuckets);
      for (const writes of healed) expect(writes).toBeGreaterThanOrEqual(2 ** 32);
      for (const writes of await counters(clusterOf("A").primaries[0] as ServerHandle)) {
        expect(writes).toBeLessThan(2 ** 32);
      }

      // Healed: with B down again, A votes for the keys of its wiped buckets too.
      await node("B").kill("SIGKILL");
      await Promise.all(wiped.slice(10, 20).map(create));
      for (const key of wiped.slice(10, 20)) expect(outcome(key), key).toBe("created");
      // Nothing acknowledged was lost: A and C answer every key.
      recorder.phase = "final";
      for (const op of recorder.ops.filter((o) => o.kind === "create" && isOk(o))) {
        let read = await recorder.read(client, "final", op.key, false);
        for (let i = 0; !isOk(read) && i < 5; i++) {
          read = await recorder.read(client, "final", op.key, false);
        }
        expect(read.outcome, op.key).toEqual({ type: "value", value: op.value });
      }
      await node("B").start();
      await retrying.close();
      expect(checkHistory(recorder.ops, { durabilityPhases: ["final"] }).anomalies).toEqual([]);
    }, 180_000);

  it("slots of A's cluster move while creates race, and it grows by a primary: 0 anomalies",
    async () => {
      const recorder = new Recorder();
      const own = clusterOf("A");
      let creating = true;
      let next = 0;
      // Four writers, two on each key, race fresh keys until the reshards are done.
      const writer = async (w: string) => {
        while (creating) {
          const n = next++;
          await recorder.create(client, w, `moving.${Math.floor(n / 2)}`, `${w}-${n}`);
        }
      };
      // B is down: every create needs A's vote, so A's keys moving under it count.
      await node("B").kill("SIGKILL");
      const writers = ["w1", "w2", "w3", "w4"].map(writer);
      // A lister, as a rejoin of another acceptor would list A, while the slots move: every
      // listing that ends must hold every key acknowledged before it began.
      const listings = { complete: 0, refused: 0, short: [] as string[] };
      const lister = (async () => {
        while (creating) {
          const before = recorder.ops.filter((op) => op.kind === "create" && isOk(op));
          const keys = await listA();
          if (keys === null) listings.refused++;
          else {
            listings.complete++;
            listings.short.push(...before.filter((op) => !keys.has(op.key)).map((op) => op.key));
          }
        }
      })();
      const [first, second] = own.primaries as [ServerHandle, ServerHandle];
      await own.reshard(first, second, 2000);
      const added = await own.addPrimary();
      await own.reshard(second, added, 3000);
      creating = false;
      await Promise.all([...writers, lister]);
      await node("B").start();

      const creates = recorder.ops.filter((op) => op.kind === "create");
      const ok = creates.filter(isOk);
      expect(creates.length).toBeGreaterThan(100);
      // A moving slot answers TRYAGAIN for a moment: few creates may fail, none may lie.
      expect(ok.length / creates.length).toBeGreaterThan(0.9);
      expect(await raw(added).dbsize()).toBeGreaterThan(0); // A's keys moved onto it
      recorder.phase = "final";
      for (const op of ok) await recorder.read(client, "final", op.key, false);
      expect(checkHistory(recorder.ops, { durabilityPhases: ["final"] }).anomalies).toEqual([]);
      // A lists its keys over the four primaries (a rejoin or a rebuild of another node).
      const keys = await listA();
      for (const op of ok) expect(keys?.has(op.key), op.key).toBe(true);
      // Listings made while slots moved: refused (listed again) or complete, never short.
      expect(listings.complete + listings.refused).toBeGreaterThan(0);
      expect(listings.short).toEqual([]);
      // Both sides of every move were up: no bucket was fenced as an interrupted move.
      expect(log("A")).not.toMatch(/were being moved by a reshard/);
    }, 240_000);

  it.each([["down (killed)", "SIGKILL"], ["hung (SIGSTOP)", "SIGSTOP"]] as const)(
    "one primary of A's cluster %s, not wiped: A keeps its lease and votes with the rest",
    async (_, signal) => {
      const recorder = new Recorder();
      const down = clusterOf("A").primaries[0] as ServerHandle;
      const keys = Array.from({ length: 60 }, (_, i) => `half.${i}`);
      const onDown = new Set<string>();
      for (const key of keys) if (await primaryPortOf("A", key) === down.port) onDown.add(key);
      expect(onDown.size).toBeGreaterThan(0);
      await down.kill(signal);
      // B is down: every create needs A. Past A's lease (10 s), A still confirms it.
      await node("B").kill("SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      // (/votingz's Redis check fails while a primary is down; the membership still votes.)
      expect((await votingz("A")).checks?.acceptorVoting).toBe(true);
      await Promise.all(keys.filter((k) => !onDown.has(k)).map((key) =>
        recorder.create(client, "w", key, `v-${key}`)));
      for (const op of recorder.ops) expect(op.outcome.type, op.key).toBe("created");
      await (signal === "SIGSTOP" ? down.kill("SIGCONT") : down.restart());
      await node("B").start();
      await poll("B voting", async () => (await votingz("B")).voting ? true : undefined);
    }, 120_000);

  it("a primary of A's cluster restored from an older copy: A is rolled back, retired, rejoins",
    async () => {
      const recorder = new Recorder();
      const primary = clusterOf("A").primaries[2] as ServerHandle;
      const backup = join(tmpdir(), `paxoskv-shard-backup-${process.pid}`);
      await primary.stop();
      cpSync(join(primary.dir, "appendonlydir"), backup, { recursive: true });
      await primary.restart();
      // Writes A takes part in after the copy, with C down; the marks reach the registry.
      await node("C").kill("SIGKILL");
      await Promise.all(Array.from({ length: 40 }, (_, i) =>
        recorder.create(client, "w", `later.${i}`, `later-${i}`)));
      await node("C").start();
      await new Promise((resolve) => setTimeout(resolve, 2500)); // a mark recorded each second
      // The copy comes back: its buckets carry A's marker with older counters.
      await primary.stop();
      rmSync(join(primary.dir, "appendonlydir"), { recursive: true, force: true });
      cpSync(backup, join(primary.dir, "appendonlydir"), { recursive: true });
      rmSync(backup, { recursive: true, force: true });
      await primary.restart();
      // (While the primary comes back, /votingz may first say its Redis does not answer.)
      const refused = await poll("A refusing", async () => {
        const v = await votingz("A");
        return v.voting || /does not answer/.test(v.reason ?? "") ? undefined : v;
      });
      expect(refused.reason).toMatch(/rolled.back/);
      const reply = await nc.request(paxosRejoinSubject(cluster.prefix, "A"), "",
        { timeout: 60_000 });
      expect(reply.json()).toMatchObject({ ok: true, acceptor: "A" });
      await poll("A voting", async () => (await votingz("A")).voting ? true : undefined);
      // Nothing acknowledged was lost: with C down, A and B answer every key.
      await node("C").kill("SIGKILL");
      recorder.phase = "final";
      for (const op of recorder.ops.filter((o) => o.kind === "create" && isOk(o))) {
        let read = await recorder.read(client, "final", op.key, false);
        for (let i = 0; !isOk(read) && i < 5; i++) {
          read = await recorder.read(client, "final", op.key, false);
        }
        expect(read.outcome, op.key).toEqual({ type: "value", value: op.value });
      }
      await node("C").start();
      expect(checkHistory(recorder.ops, { durabilityPhases: ["final"] }).anomalies).toEqual([]);
    }, 180_000);
});
