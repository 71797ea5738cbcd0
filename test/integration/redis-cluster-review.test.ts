/**
 * Regressions from an adversarial review of the Redis Cluster acceptor store (real clusters,
 * 3 primaries each): a listing a reshard overtakes on its last page, a per-bucket heal that
 * left an old copy of the bucket looking current, and one primary down failing every read
 * of the store's parts (which silenced the whole acceptor).
 */
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";
import { ballot, type Ballot } from "../../src/core/ballot.js";
import type { MsgAccept, MsgPrepare } from "../../src/core/messages.js";
import { bucketOf, bucketTags, RedisClusterAcceptorStore } from "../../src/adapters/redis/index.js";
import { slotOfTag } from "../../src/adapters/redis/buckets.js";
import { healedMarks, partBehind } from "../../src/node/roles/acceptor-membership.js";
import {
  cleanup, startRedisCluster, type RedisClusterHandle, type ServerHandle,
} from "./support/servers.js";

const b = (round: number, nodeId = "A"): Ballot => ballot(round, nodeId);
const prepare = (key: string, n: Ballot): MsgPrepare => ({ type: "prepare", key, ballot: n });
const accept = (key: string, n: Ballot, value: string): MsgAccept =>
  ({ type: "accept", key, ballot: n, value });
const stores: RedisClusterAcceptorStore[] = [];
const clients: Redis[] = [];

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  for (const c of clients) c.disconnect();
  await cleanup();
});

function raw(server: ServerHandle): Redis {
  const client = new Redis(server.url);
  client.on("error", () => undefined); // a primary a test kills
  clients.push(client);
  return client;
}

async function servingStore(acceptorId: string, on: RedisClusterHandle, commandTimeoutMs?: number):
  Promise<RedisClusterAcceptorStore> {
  const store = new RedisClusterAcceptorStore({
    acceptorId, seeds: on.url.split(","), ...commandTimeoutMs === undefined ? {} : { commandTimeoutMs },
  });
  stores.push(store);
  store.serveAs(await store.adoptIncarnation("inc-1"));
  return store;
}

async function ownerOf(on: RedisClusterHandle, redisKey: string): Promise<ServerHandle> {
  const first = raw(on.primaries[0] as ServerHandle);
  const slot = await first.cluster("KEYSLOT", redisKey) as number;
  const ranges = await first.cluster("SLOTS");
  const port = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  const owner = on.primaries.find((p) => p.port === port);
  if (owner === undefined) throw new Error(`no primary for slot ${slot}`);
  return owner;
}

it("store - a reshard between a listing's last topology check and its last SCAN: the page " +
  "fails, never a short listing that ends complete", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("L", own);
  const keys = Array.from({ length: 300 }, (_, i) => `k${i}`);
  await store.acceptMany(keys.map((key) => accept(key, b(5), "v")));
  const sorted = [...own.primaries].sort((x, y) =>
    `127.0.0.1:${x.port}` < `127.0.0.1:${y.port}` ? -1 : 1);
  const first = sorted[0] as ServerHandle;
  const last = sorted.at(-1) as ServerHandle;
  const z = raw(last);
  const y = raw(first);
  const zId = await z.cluster("MYID") as string;
  const yId = await y.cluster("MYID") as string;
  const victim = (await z.keys("paxoskv:acc:{L:*")).find((n) => !n.includes("}:~")) as string;
  const slot = await z.cluster("KEYSLOT", victim) as number;
  const inSlot = await z.cluster("GETKEYSINSLOT", slot, 1000) as string[];
  let armed = true;
  const original = Redis.prototype.scan;
  // What `redis-cli --cluster reshard` does for one slot, just before the last primary's SCAN.
  (Redis.prototype as unknown as { scan: unknown }).scan = async function (
    this: Redis, ...args: unknown[]) {
    if (armed && this.options.port === last.port && String(args[0]) === "0") {
      armed = false;
      await y.cluster("SETSLOT", slot, "IMPORTING", zId);
      await z.cluster("SETSLOT", slot, "MIGRATING", yId);
      await z.call("MIGRATE", "127.0.0.1", String(first.port), "", "0", "5000", "KEYS", ...inSlot);
      for (const p of own.primaries) await raw(p).cluster("SETSLOT", slot, "NODE", yId);
    }
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
  const listed: string[] = [];
  let failure: unknown = null;
  try {
    let cursor = "0";
    do {
      const page = await store.scanKeys(cursor, 1000);
      listed.push(...page.keys);
      cursor = page.cursor;
    } while (cursor !== "0");
  } catch (err) {
    failure = err;
  } finally {
    (Redis.prototype as unknown as { scan: unknown }).scan = original;
  }
  expect(armed).toBe(false);
  const missed = keys.filter((k) => !listed.includes(k));
  // Either the listing is refused (list again) or it holds every key; never short.
  if (failure === null) expect(missed).toEqual([]);
  else expect(String(failure)).toMatch(/list again/);
  expect(failure).not.toBe(null);
  // Listed again once the slot has moved: every key, each once.
  const again: string[] = [];
  let cursor = "0";
  do {
    const page = await store.scanKeys(cursor, 1000);
    again.push(...page.keys);
    cursor = page.cursor;
  } while (cursor !== "0");
  expect(again.sort()).toEqual([...keys].sort());
}, 90_000);

it("store - after a per-bucket heal, an old copy of the bucket (same incarnation) is found " +
  "behind its mark, even when the bucket is quiet", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("H", own);
  const key = "k1";
  const bucket = bucketOf(key);
  const primary = raw(await ownerOf(own, store.hashKey(key)));
  await store.accept(accept(key, b(5), "v"));
  const marks = (await store.parts()).map((p) => p.writes); // the node records its marks
  await store.prepare(prepare(key, b(7))); // within the recording interval: not recorded
  // A copy of the shard taken now (a backup, or the old primary's AOF).
  const names = await primary.keys(`paxoskv:acc:{${bucketTags("H")[bucket]}}:*`);
  const dump = await Promise.all(names.map(async (n) => [n, await primary.dumpBuffer(n)] as const));
  await primary.flushall();
  expect((await store.parts())[bucket]?.marker).toBe(null);
  // The per-bucket heal: the marks it registers before restoring, then the restore.
  const raised = healedMarks(marks, [bucket]);
  const recovered = { promised: b(9, "R"), accepted: { ballot: b(9, "R"), value: "v" } };
  expect(await store.restoreParts([{ key, state: recovered }], [bucket], "inc-1", raised))
    .toEqual([bucket]);
  expect(partBehind(await store.parts(), "inc-1", raised)).toBe(null);
  expect((await store.prepare(prepare(key, b(12))))?.type).toBe("promise");
  // The old copy comes back, and the bucket stays quiet (no write moves its counter).
  await primary.flushall();
  for (const [n, d] of dump) await primary.restore(n, 0, d, "REPLACE");
  const behind = partBehind(await store.parts(), "inc-1", raised);
  expect(behind).not.toBe(null);
  expect(behind?.writes).toBe(2);
}, 90_000);

it("store - one primary down: parts answers the others (its buckets unreadable) instead of " +
  "failing as a whole", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("D", own, 2000);
  const down = own.primaries[2] as ServerHandle;
  const alive = Array.from({ length: 200 }, (_, i) => `x${i}`);
  await store.acceptMany(alive.map((key) => accept(key, b(3), "v")));
  const onDown = new Set<number>();
  for (let bucket = 0; bucket < 256; bucket++) {
    const hash = `paxoskv:acc:{${bucketTags("D")[bucket]}}:~writes`;
    if ((await ownerOf(own, hash)).port === down.port) onDown.add(bucket);
  }
  expect(onDown.size).toBeGreaterThan(0);
  await down.kill();
  const parts = await store.parts();
  expect(parts.flatMap((p, i) => p.unreadable === true ? [i] : [])).toEqual([...onDown]);
  for (const [i, part] of parts.entries()) {
    if (!onDown.has(i)) expect(part.marker).toBe("inc-1");
  }
  // An unreadable part is no rollback and no lost part.
  expect(partBehind(parts, "inc-1", parts.map((p) => p.unreadable === true ? 1e6 : 0)))
    .toBe(null);
  const survivor = alive.find((k) => !onDown.has(bucketOf(k))) as string;
  expect((await store.prepare(prepare(survivor, b(4))))?.type).toBe("promise");
}, 90_000);

it("store - a reshard interrupted by the loss of the importing primary: the moving bucket is " +
  "fenced before the slot is closed, so it never votes with the keys it lost", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("S", own, 2000);
  const key = "k1";
  const bucket = bucketOf(key);
  await store.accept(accept(key, b(50), "v"));
  const hash = store.hashKey(key);
  const source = await ownerOf(own, hash);
  const target = own.primaries.find((p) => p.port !== source.port) as ServerHandle;
  const src = raw(source);
  const dst = raw(target);
  const slot = await src.cluster("KEYSLOT", hash) as number;
  const srcId = await src.cluster("MYID") as string;
  const dstId = await dst.cluster("MYID") as string;
  // A reshard under way: the key's hash has moved, the marker and counter not yet.
  await dst.cluster("SETSLOT", slot, "IMPORTING", srcId);
  await src.cluster("SETSLOT", slot, "MIGRATING", dstId);
  await src.call("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", hash);
  expect(await store.fenceIncompleteParts()).toEqual([]); // both sides up: nothing to fence
  // Meanwhile the split bucket gets no answer (Redis refuses the split script), not a vote.
  await expect(store.prepare(prepare(key, b(10, "B")))).rejects.toThrow(/redirections|timed out/);
  // The target dies with its data; the node's tick (here called by hand) fences the bucket.
  await target.kill();
  let fenced: number[] = [];
  for (const until = Date.now() + 15_000; !fenced.includes(bucket) && Date.now() < until;) {
    fenced = await store.fenceIncompleteParts();
    if (!fenced.includes(bucket)) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(fenced).toContain(bucket);
  // The operator closes the open slot on the source (`redis-cli --cluster fix`).
  await src.cluster("SETSLOT", slot, "STABLE");
  expect((await store.parts())[bucket]?.marker).toBe(null);
  expect(await store.prepare(prepare(key, b(10, "B")))).toBe(null); // refused, not a promise
}, 90_000);

it("store - a reshard interrupted by the loss of the migrating primary: the marker already " +
  "moved to the importing side is deleted there", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("T", own, 2000);
  const key = "k1";
  const bucket = bucketOf(key);
  await store.accept(accept(key, b(50), "v"));
  const hash = store.hashKey(key);
  const marker = `paxoskv:acc:{${bucketTags("T")[bucket]}}:~incarnation`;
  const source = await ownerOf(own, hash);
  const target = own.primaries.find((p) => p.port !== source.port) as ServerHandle;
  const src = raw(source);
  const dst = raw(target);
  const slot = await src.cluster("KEYSLOT", hash) as number;
  await dst.cluster("SETSLOT", slot, "IMPORTING", await src.cluster("MYID") as string);
  await src.cluster("SETSLOT", slot, "MIGRATING", await dst.cluster("MYID") as string);
  // The marker has moved, the key's hash not yet; then the source dies with its data.
  await src.call("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", marker);
  await source.kill();
  let fenced: number[] = [];
  for (const until = Date.now() + 15_000; !fenced.includes(bucket) && Date.now() < until;) {
    fenced = await store.fenceIncompleteParts();
    if (!fenced.includes(bucket)) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(fenced).toContain(bucket);
  const [, exists] = await dst.pipeline().asking().exists(marker).exec() ?? [];
  expect(exists?.[1]).toBe(0);
}, 90_000);

/** A reshard of `hash`'s slot begun by hand: importing on a primary other than its owner. */
async function beginMove(on: RedisClusterHandle, hash: string) {
  const source = await ownerOf(on, hash);
  const target = on.primaries.find((p) => p.port !== source.port) as ServerHandle;
  const src = raw(source);
  const dst = raw(target);
  const slot = await src.cluster("KEYSLOT", hash) as number;
  const srcId = await src.cluster("MYID") as string;
  const dstId = await dst.cluster("MYID") as string;
  await dst.cluster("SETSLOT", slot, "IMPORTING", srcId);
  await src.cluster("SETSLOT", slot, "MIGRATING", dstId);
  return { src, dst, slot, srcId, dstId, target };
}

it("store - the target of a reshard wiped and back under the same node ID, then the move " +
  "finished: the bucket's count is short, so it refuses and is fenced, never a vote",
async () => {
  const own = await startRedisCluster();
  const store = await servingStore("W", own, 2000);
  const key = "k1";
  const bucket = bucketOf(key);
  await store.accept(accept(key, b(50), "v"));
  const hash = store.hashKey(key);
  const { src, dst, slot, dstId } = await beginMove(own, hash);
  await src.call("MIGRATE", "127.0.0.1", String((await dst.config("GET", "port") as string[])[1]),
    "", "0", "5000", "KEYS", hash);
  // The target loses its data but keeps its node ID and stays connected: nothing looks gone.
  await dst.flushall();
  expect(await store.fenceIncompleteParts()).toEqual([]);
  // The operator finishes the move (`redis-cli --cluster fix` does the same): the rest goes.
  const rest = await src.cluster("GETKEYSINSLOT", slot, 1000) as string[];
  await src.call("MIGRATE", "127.0.0.1", String((await dst.config("GET", "port") as string[])[1]),
    "", "0", "5000", "KEYS", ...rest);
  for (const p of own.primaries) await raw(p).cluster("SETSLOT", slot, "NODE", dstId);
  // The marker and counter moved, the key's hash is gone: a fresh-looking key must not vote.
  expect(await store.prepare(prepare(key, b(10, "B")))).toBe(null);
  expect(await store.read(key)).toBe(null);
  expect((await store.parts())[bucket]?.marker).toBe(null); // fenced: it heals by a rejoin
}, 90_000);

it("store - the source keeps the slot after its target was wiped mid-move: the key that had " +
  "moved is missing at the source, so the bucket refuses", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("V", own, 2000);
  const key = "k1";
  const bucket = bucketOf(key);
  await store.accept(accept(key, b(50), "v"));
  const hash = store.hashKey(key);
  const { src, dst, slot } = await beginMove(own, hash);
  await src.call("MIGRATE", "127.0.0.1", String((await dst.config("GET", "port") as string[])[1]),
    "", "0", "5000", "KEYS", hash);
  await dst.flushall();
  // The operator closes the slot where it was (`CLUSTER SETSLOT <slot> STABLE` on both).
  await src.cluster("SETSLOT", slot, "STABLE");
  await dst.cluster("SETSLOT", slot, "STABLE");
  expect(await store.accept(accept(key, b(60, "B"), "other"))).toBe(null);
  expect((await store.parts())[bucket]?.marker).toBe(null);
}, 90_000);

it("store - a quiet bucket that lost a key is fenced by the tick, and a listing then refuses " +
  "rather than end complete without it", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("Q", own, 2000);
  const keys = Array.from({ length: 50 }, (_, i) => `q${i}`);
  await store.acceptMany(keys.map((key) => accept(key, b(5), "v")));
  expect(await store.fenceIncompleteParts()).toEqual([]); // every count holds
  const victim = keys[7] as string;
  const owner = raw(await ownerOf(own, store.hashKey(victim)));
  await owner.del(store.hashKey(victim)); // lost without any script seeing it
  expect(await store.fenceIncompleteParts()).toEqual([bucketOf(victim)]);
  expect((await store.parts())[bucketOf(victim)]?.marker).toBe(null);
  await expect(store.scanKeys("0", 1000)).rejects.toThrow(/lost their state/);
  // A key of a bucket whose count holds still votes.
  const other = keys.find((k) => bucketOf(k) !== bucketOf(victim)) as string;
  expect((await store.prepare(prepare(other, b(9))))?.type).toBe("promise");
}, 90_000);

it("buckets - each acceptor's 256 buckets have slots of their own", () => {
  for (const id of ["A", "B", "C", "node-7", "W"]) {
    const slots = new Set(bucketTags(id).map((tag) => slotOfTag(tag)));
    expect(slots.size, id).toBe(256);
  }
});
