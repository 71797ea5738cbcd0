/**
 * The acceptor's store over a real Redis Cluster (3 primaries, AOF fsync always, no
 * replicas): the same rules as one Redis (the differential test against the core), batches
 * split by bucket, listings over every primary, and fencing per bucket: a primary that lost
 * its data fences exactly the buckets it held.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EMPTY_ACCEPTOR_STATE, onAccept, onPrepare, type AcceptorState,
} from "../../src/core/acceptor.js";
import { ballot, FAST_BALLOT, type Ballot } from "../../src/core/ballot.js";
import type { MsgAccept, MsgPrepare } from "../../src/core/messages.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import {
  BUCKET_COUNT, bucketOf, RedisClusterAcceptorStore,
} from "../../src/adapters/redis/index.js";
import { bucketTags, slotOfTag } from "../../src/adapters/redis/buckets.js";
import type { AcceptorStore } from "../../src/adapters/ports.js";
import { ConfigError, loadConfig } from "../../src/node/infrastructure/config.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import { AcceptorRedisReads } from "../../src/node/roles/direct-reads.js";
import { openRedisStore } from "../../src/node/infrastructure/open-store.js";
import {
  cleanup, startRedis, startRedisCluster, type RedisClusterHandle, type ServerHandle,
} from "./support/servers.js";

const stores: RedisClusterAcceptorStore[] = [];
const clients = new Map<number, Redis>();
/** Shared by the stores of tests that look at several acceptors on one cluster. */
let cluster: RedisClusterHandle;
const clustersOfOne = new Map<string, Promise<RedisClusterHandle>>();

/**
 * A cluster holding one acceptor's state only, as deployed: a bucket proves itself complete by
 * the number of keys in its slot, so another acceptor's key there makes it refuse.
 */
function clusterOf(acceptorId: string): Promise<RedisClusterHandle> {
  const started = clustersOfOne.get(acceptorId) ?? startRedisCluster();
  clustersOfOne.set(acceptorId, started);
  return started;
}

function openStore(acceptorId: string, on: RedisClusterHandle = cluster): RedisClusterAcceptorStore {
  const store = new RedisClusterAcceptorStore({ acceptorId, seeds: on.url.split(",") });
  stores.push(store);
  return store;
}

/** A store claimed and serving, as the node's membership leaves it. */
async function servingStore(acceptorId: string, on: RedisClusterHandle = cluster):
  Promise<RedisClusterAcceptorStore> {
  const store = openStore(acceptorId, on);
  // A new store's recovery with nothing to recover, once per acceptor on its cluster.
  if (await store.incarnation() === null) await store.restore([], "inc-1");
  store.serveAs("inc-1");
  return store;
}

/** A plain connection to one primary (one per primary, reused). */
function raw(server: ServerHandle): Redis {
  const client = clients.get(server.port) ?? new Redis(server.url);
  clients.set(server.port, client);
  return client;
}

/** Which primary holds a slot: the one whose CLUSTER SLOTS range includes it. */
async function primaryOf(on: RedisClusterHandle, bucketKey: string): Promise<ServerHandle> {
  const first = on.primaries[0] as ServerHandle;
  const slot = await raw(first).cluster("KEYSLOT", bucketKey) as number;
  const ranges = await raw(first).cluster("SLOTS");
  const owner = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  const server = on.primaries.find((p) => p.port === owner);
  if (server === undefined) throw new Error(`no primary for slot ${slot}`);
  return server;
}

async function listAll(store: AcceptorStore): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const page = await store.scanKeys(cursor, 100);
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor !== "0");
  return keys.sort();
}

const b = (round: number, nodeId = "A"): Ballot => ballot(round, nodeId);
const prepare = (key: string, n: Ballot): MsgPrepare => ({ type: "prepare", key, ballot: n });
const accept = (key: string, n: Ballot, value: string): MsgAccept =>
  ({ type: "accept", key, ballot: n, value });

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  for (const c of clients.values()) c.disconnect();
  await cleanup();
});

describe("redis cluster store - layout", () => {
  it("buckets - a key's bucket is stable and keys spread over every bucket", () => {
    expect(bucketOf("orders.1")).toBe(bucketOf("orders.1"));
    const seen = new Set(Array.from({ length: 20_000 }, (_, i) => bucketOf(`k.${i}`)));
    expect(seen.size).toBe(BUCKET_COUNT);
  });

  it("buckets - slotOfTag computes the slot Redis computes", async () => {
    const client = raw(cluster.primaries[0] as ServerHandle);
    for (const tag of ["A:0", "A:255", "node-7:17", "x", "é:1"]) {
      expect(slotOfTag(tag), tag).toBe(await client.cluster("KEYSLOT", `p:{${tag}}:k`));
    }
  });

  it("store - a key's hash, its bucket's marker and counter share a slot", async () => {
    const store = await servingStore("L", await clusterOf("L"));
    const key = "layout.1";
    await store.accept(accept(key, b(3), "v"));
    const bucket = bucketOf(key);
    expect(store.hashKey(key)).toBe(`paxoskv:acc:{${bucketTags("L")[bucket]}}:${key}`);
    const owner = raw(await primaryOf(await clusterOf("L"), store.hashKey(key)));
    expect(await owner.hget(store.hashKey(key), "accepted_value")).toBe("v");
    expect(await owner.get(`paxoskv:acc:{${bucketTags("L")[bucket]}}:~incarnation`)).toBe("inc-1");
    expect(await owner.get(`paxoskv:acc:{${bucketTags("L")[bucket]}}:~writes`)).toBe("1");
    // A 100-byte value keeps the hash a listpack (hash-max-listpack-value 1024).
    await store.accept(accept("layout.2", b(3), "x".repeat(100)));
    const second = raw(await primaryOf(await clusterOf("L"), store.hashKey("layout.2")));
    expect(await second.object("ENCODING", store.hashKey("layout.2"))).toBe("listpack");
  });
});

describe("redis cluster store - differential against the core", () => {
  const nodeIds = ["A", "B", "Z", "a", "_", "-", "AA", "b9"];

  function randomBallot(random: Random): Ballot {
    const round = randomInt(random, 6);
    return round === 0 ? FAST_BALLOT : b(round, nodeIds[randomInt(random, nodeIds.length)] ?? "A");
  }

  // The same steps as the one-Redis differential test, in batches that span buckets.
  it.each(Array.from({ length: 6 }, (_, i) => i + 1))(
    "store - seeded batches of prepares and accepts match onPrepare/onAccept: SEED=%i",
    async (seed) => {
      const store = await servingStore("D", await clusterOf("D"));
      const random = seededRandom(seed);
      const keys = Array.from({ length: 6 }, (_, i) => `diff.${seed}.${i}`);
      const core = new Map<string, AcceptorState>();
      for (let step = 0; step < 60; step++) {
        const where = `reproduce with SEED=${seed}, step ${step}`;
        // Distinct keys per batch: the core sees them one after another, as the script does.
        const batch = keys.filter(() => random.next() < 0.5);
        if (batch.length === 0) continue;
        if (random.next() < 0.5) {
          const msgs = batch.map((key) => ({ ...prepare(key, randomBallot(random)),
            proposalId: `p${step}` }));
          const expected = msgs.map((m) => onPrepare(core.get(m.key) ?? EMPTY_ACCEPTOR_STATE, m, "D"));
          expect(await store.prepareMany(msgs), where).toEqual(expected.map((e) => e.reply));
          msgs.forEach((m, i) => core.set(m.key, expected[i]?.state ?? EMPTY_ACCEPTOR_STATE));
        } else {
          const msgs = batch.map((key) => ({
            ...accept(key, randomBallot(random), `v${randomInt(random, 3)}`), proposalId: `p${step}`,
          }));
          const expected = msgs.map((m) => onAccept(core.get(m.key) ?? EMPTY_ACCEPTOR_STATE, m, "D"));
          expect(await store.acceptMany(msgs), where).toEqual(expected.map((e) => e.reply));
          msgs.forEach((m, i) => core.set(m.key, expected[i]?.state ?? EMPTY_ACCEPTOR_STATE));
        }
        for (const key of keys) {
          expect(await store.read(key), where).toEqual(core.get(key) ?? EMPTY_ACCEPTOR_STATE);
        }
      }
      // Every bucket's key count held through it all (no bucket fenced without a loss).
      expect(await store.fenceIncompleteParts(), `SEED=${seed}`).toEqual([]);
    });
});

describe("redis cluster store - listings and the announcement work list", () => {
  it("store - scanKeys lists every key of the acceptor over all primaries, once", async () => {
    const store = await servingStore("S");
    const keys = Array.from({ length: 700 }, (_, i) => `scan.${i}`);
    for (let i = 0; i < keys.length; i += 100) {
      await store.acceptMany(keys.slice(i, i + 100).map((k) => accept(k, b(1), "v")));
    }
    await servingStore("T").then((other) => other.prepare(prepare("scan.other", b(1))));
    expect(await listAll(store)).toEqual([...keys].sort());
    expect(await store.holdsState()).toBe(true);
    expect(await openStore("U").holdsState()).toBe(false);
  });

  it("store - unannounced pages through every bucket's set; markAnnounced empties it", async () => {
    const store = await servingStore("W", await clusterOf("W"));
    const keys = Array.from({ length: 120 }, (_, i) => `ann.${i}`);
    await store.acceptMany(keys.map((k) => accept(k, b(1), "v")));
    const paged: string[] = [];
    for (let offset = 0; ; offset += 25) {
      const page = await store.unannounced(0, offset, 25);
      if (page.length === 0) break;
      expect(page.length).toBeLessThanOrEqual(25);
      paged.push(...page);
    }
    expect(paged.sort()).toEqual([...keys].sort());
    await store.markAnnounced(keys.slice(0, 100));
    expect((await store.unannounced(0, 0, 1000)).sort()).toEqual(keys.slice(100).sort());
  });

  it("store - clear removes everything; restore installs states, then every marker", async () => {
    const store = await servingStore("R", await clusterOf("R"));
    await store.acceptMany(Array.from({ length: 50 }, (_, i) => accept(`old.${i}`, b(2), "x")));
    await store.clear();
    expect(await store.incarnation()).toBeNull();
    expect(await listAll(openStore("R", await clusterOf("R")))).toEqual([]);
    const chosen: AcceptorState = { promised: b(20, "R"), accepted: { ballot: b(20, "R"), value: "v" } };
    const empty: AcceptorState = { promised: b(21, "R"), accepted: null };
    const entries = Array.from({ length: 40 }, (_, i) =>
      ({ key: `r.${i}`, state: i % 2 === 0 ? chosen : empty }));
    await store.restore(entries, "new");
    expect(await store.incarnation()).toBe("new");
    expect(new Set((await store.parts()).map((p) => p.marker))).toEqual(new Set(["new"]));
    store.serveAs("new");
    expect(await store.read("r.0")).toEqual(chosen);
    expect(await store.read("r.1")).toEqual(empty);
    expect(await store.read("old.0")).toEqual(EMPTY_ACCEPTOR_STATE);
    expect((await store.prepare(prepare("r.1", b(21, "Q"))))?.type).toBe("nack");
    expect((await store.unannounced(0, 0, 100)).length).toBe(20);
  });

  it("store - durable only with AOF and fsync always on every primary", async () => {
    expect(await openStore("X").durability()).toMatchObject(
      { appendonly: true, appendfsync: "always", durable: true });
  });
});

describe("redis cluster store - listings while slots move", () => {
  it("store - a listing never misses a key that moved behind it: it fails, to be listed again",
    async () => {
      const own = await startRedisCluster();
      const store = await servingStore("M", own);
      const keys = Array.from({ length: 600 }, (_, i) => `m.${i}`);
      await store.acceptMany(keys.map((k) => accept(k, b(1), "v")));
      // The scan visits primaries in address order: list the first one whole...
      const [first, second] = [...own.primaries]
        .sort((x, y) => `127.0.0.1:${x.port}`.localeCompare(`127.0.0.1:${y.port}`)) as
        [ServerHandle, ServerHandle];
      const seen: string[] = [];
      let cursor = "0";
      do {
        const page = await store.scanKeys(cursor, 50);
        seen.push(...page.keys);
        cursor = page.cursor;
      } while (/^\d+\/0\//.test(cursor));
      expect(cursor).not.toBe("0");
      // ...then a slot migration starts from the second: pages are refused while it runs.
      const slot = Number((await raw(second).cluster("SLOTS"))
        .find(([, , node]) => node?.[1] === second.port)?.[0]);
      const [firstId, secondId] = [await own.nodeId(first), await own.nodeId(second)];
      await raw(first).cluster("SETSLOT", slot, "IMPORTING", secondId);
      await raw(second).cluster("SETSLOT", slot, "MIGRATING", firstId);
      await expect(store.scanKeys(cursor, 50)).rejects.toThrow(/a slot is moving/);
      await raw(second).cluster("SETSLOT", slot, "STABLE");
      await raw(first).cluster("SETSLOT", slot, "STABLE");
      // ...and the second's slots all move to the first, already listed: the listing that
      // began before fails rather than end without them; a new one lists every key.
      await own.reshard(second, first, 16384);
      await expect(store.scanKeys(cursor, 50)).rejects.toThrow(/slots moved during this listing/);
      expect(await listAll(store)).toEqual([...keys].sort());
    }, 90_000);
});

describe("redis cluster store - fencing per bucket", () => {
  it("store - a wiped primary fences exactly its buckets; the others vote; retire fences all",
    async () => {
      const own = await startRedisCluster();
      const store = await servingStore("F", own);
      const keys = Array.from({ length: 300 }, (_, i) => `f.${i}`);
      await store.acceptMany(keys.map((k) => accept(k, b(5), "v")));
      const victim = own.primaries[1] as ServerHandle;
      const onVictim = new Set<string>();
      for (const key of keys) {
        if ((await primaryOf(own, store.hashKey(key))).port === victim.port) onVictim.add(key);
      }
      expect(onVictim.size).toBeGreaterThan(50);
      await raw(victim).flushall();

      const replies = await store.prepareMany(keys.map((k) => prepare(k, b(6))));
      for (const [i, key] of keys.entries()) {
        expect(replies[i]?.type ?? "refused", key).toBe(onVictim.has(key) ? "refused" : "promise");
      }
      expect(await store.read([...onVictim][0] ?? "")).toBeNull();
      // Nothing was written for the refused keys (no hash, no marker, no counter).
      expect(await raw(victim).dbsize()).toBe(0);
      const parts = await store.parts();
      const lost = parts.filter((p) => p.marker === null).length;
      expect(lost).toBeGreaterThan(0);
      expect(lost).toBeLessThan(BUCKET_COUNT);
      expect(await store.incarnation()).toBe("inc-1");
      // A listing would leave the lost buckets' keys out: it is refused.
      await expect(store.scanKeys("0", 100)).rejects.toThrow(/buckets lost their state/);

      // Retiring (a rollback found) refuses every bucket that still held the incarnation.
      expect(await store.retireIncarnation("inc-1", "retired:inc-1")).toBe(true);
      const after = await store.prepareMany(keys.map((k) => prepare(k, b(7))));
      expect(after.every((r) => r === null)).toBe(true);
    }, 60_000);
});

describe("redis cluster store - PAXOSKV_REDIS_URL", () => {
  const open = (url: string) => openRedisStore(loadConfig({ PAXOSKV_REDIS_URL: url }),
    createLogger("A", "silent"));

  it("node - one URL of a cluster node opens a cluster store, as do several seeds", async () => {
    for (const url of [cluster.primaries[2]?.url ?? "", cluster.url]) {
      const store = await open(url);
      expect(store, url).toBeInstanceOf(RedisClusterAcceptorStore);
      expect((await store.durability()).durable).toBe(true);
      await store.close();
    }
  });

  it("node - direct quorum reads of a cluster node: BAD_CONFIG at start", async () => {
    const failure = await AcceptorRedisReads.open({
      urls: new Map([["A", cluster.primaries[0]?.url ?? ""]]),
      registry: { get: () => Promise.resolve(null), watch: () => Promise.resolve(() => undefined) },
      prefix: "paxoskv", commandTimeoutMs: 1000, log: createLogger("A", "silent"),
    }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure).toMatchObject({
      message: expect.stringMatching(/PAXOSKV_ACCEPTOR_REDIS: the Redis of A is a node of a Redis Cluster/),
    });
  });

  it("node - several URLs that are no cluster: BAD_CONFIG at start", async () => {
    const [one, two] = await Promise.all([startRedis(), startRedis()]);
    const failure = await open(`${one.url},${two.url}`).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConfigError);
    expect(failure).toMatchObject({ code: "BAD_CONFIG",
      message: expect.stringMatching(/PAXOSKV_REDIS_URL: .*not a cluster/) });
    await Promise.all([one.stop(), two.stop()]);
  });
});

describe("redis cluster store - healing lost buckets", () => {
  it("store - restoreParts heals only unmarked buckets, then never writes over them",
    async () => {
      const own = await startRedisCluster();
      const store = await servingStore("H", own);
      const keys = Array.from({ length: 200 }, (_, i) => `h.${i}`);
      await store.acceptMany(keys.map((k) => accept(k, b(5), "v")));
      await raw(own.primaries[0] as ServerHandle).flushall();
      const parts = await store.parts();
      const lost = parts.flatMap((p, i) => p.marker === null ? [i] : []);
      const lostKeys = keys.filter((k) => lost.includes(bucketOf(k)));
      expect(lostKeys.length).toBeGreaterThan(0);
      const marks = parts.map((_p, i) => i + 100);
      const recovered: AcceptorState = { promised: b(9, "R"), accepted: { ballot: b(9, "R"), value: "v" } };
      const entries = lostKeys.map((key) => ({ key, state: recovered }));

      expect((await store.restoreParts(entries, lost, "inc-1", marks)).sort((x, y) => x - y))
        .toEqual(lost);
      const healed = await store.parts();
      for (const bucket of lost) {
        expect(healed[bucket]).toEqual({ marker: "inc-1", writes: bucket + 100 });
      }
      expect(await store.read(lostKeys[0] ?? "")).toEqual(recovered);
      expect((await store.unannounced(0, 0, 1000)).sort()).toEqual(expect.arrayContaining(lostKeys));
      // The healed buckets vote; a second (late) restore of older states changes nothing.
      expect((await store.prepare(prepare(lostKeys[0] ?? "", b(12))))?.type).toBe("promise");
      expect(await store.restoreParts(entries, lost, "inc-1", marks)).toEqual([]);
      expect((await store.read(lostKeys[0] ?? ""))?.promised).toEqual(b(12));
    }, 60_000);
});
