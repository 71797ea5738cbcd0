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
import { HEAL_CLAIM_MS, RENEW_HEAL_LUA } from "../../src/adapters/redis/scripts.js";
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
  await store.restore([], "inc-1"); // a new store's recovery, with nothing to recover
  store.serveAs("inc-1");
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
  const { src, slot, target } = await beginMove(own, hash);
  // A reshard under way: the key's hash has moved, the marker and counter not yet.
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
  const { src, dst, source, target } = await beginMove(own, hash);
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
  return { src, dst, slot, srcId, dstId, source, target };
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

function keysInBucket(bucket: number, count: number, prefix = "m"): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    if (bucketOf(`${prefix}${i}`) === bucket) keys.push(`${prefix}${i}`);
  }
  return keys;
}

/**
 * What `redis-cli --cluster reshard` does for one slot (clusterManagerMoveSlot): IMPORTING on
 * the target, MIGRATING on the source, then batches of `CLUSTER GETKEYSINSLOT slot 10` each
 * MIGRATEd, then SETSLOT NODE everywhere. `between` runs after each batch.
 */
async function redisCliMoveSlot(on: RedisClusterHandle, hash: string,
  between: (batch: number, dst: Redis) => Promise<void>) {
  const { src, dst, slot, dstId, target } = await beginMove(on, hash);
  const batches: string[][] = [];
  for (let n = 0; ; n++) {
    const batch = await src.cluster("GETKEYSINSLOT", slot, 10) as string[];
    if (batch.length === 0) break;
    batches.push(batch);
    await src.call("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", ...batch);
    await between(n, dst);
  }
  for (const p of on.primaries) await raw(p).cluster("SETSLOT", slot, "NODE", dstId);
  return { batches, dst };
}

it("store - a reshard target wiped between redis-cli's batches (the moves as redis-cli makes " +
  "them): whatever part of the bucket survives, a key lost with it never votes fresh", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("M", own);
  const bucket = 17;
  // 7 keys accepted in one batch: 7 hashes + ~unannounced + ~writes + ~keys = 10 keys newer
  // than the marker, i.e. exactly one GETKEYSINSLOT batch; the marker is alone in the next.
  const keys = keysInBucket(bucket, 7);
  const replies = await store.acceptMany(keys.map((k) => accept(k, b(50), "v1")));
  expect(replies.every((r) => r?.type === "accepted")).toBe(true);
  // The node records its marks each second; this bucket's first write is not recorded yet.
  const marks = Array.from({ length: 256 }, () => 0);
  const hash = store.hashKey(keys[0] as string);
  await redisCliMoveSlot(own, hash, async (n, dst) => {
    if (n === 0) await dst.flushall(); // wiped, back under the same node ID
  });
  expect(partBehind(await store.parts(), "inc-1", marks)).toBe(null); // no rollback to see
  // Must refuse (null). The bucket votes as if key k was never seen: a lower ballot is
  // promised with nothing accepted, and another value is accepted.
  const k = keys[0] as string;
  const promise = await store.prepare(prepare(k, b(10, "B")));
  const accepted = await store.accept(accept(k, b(10, "B"), "v2"));
  expect(promise).toBe(null);
  expect(accepted).toBe(null);
}, 90_000);

it("store - a reshard target wiped after the count and the hashes moved, before the marker and " +
  "the write counter: a marker without its count fences the bucket (no mark shows a loss)", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("N", own);
  const bucket = 23;
  const keys = keysInBucket(bucket, 3);
  await store.acceptMany(keys.map((k) => accept(k, b(50), "v1")));
  const marks = (await store.parts()).map((p) => p.writes); // recorded
  const tag = bucketTags("N")[bucket];
  const hash = store.hashKey(keys[0] as string);
  const source = await ownerOf(own, hash);
  const target = own.primaries.find((p) => p.port !== source.port) as ServerHandle;
  const src = raw(source);
  const dst = raw(target);
  const slot = await src.cluster("KEYSLOT", hash) as number;
  await dst.cluster("SETSLOT", slot, "IMPORTING", await src.cluster("MYID") as string);
  await src.cluster("SETSLOT", slot, "MIGRATING", await dst.cluster("MYID") as string);
  const all = await src.cluster("GETKEYSINSLOT", slot, 100) as string[];
  const first = all.filter((n) => !n.endsWith("~incarnation") && !n.endsWith("~writes"));
  await src.call("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", ...first);
  await dst.flushall();
  await src.call("MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS",
    `paxoskv:acc:{${tag}}:~writes`, `paxoskv:acc:{${tag}}:~incarnation`);
  const dstId = await dst.cluster("MYID") as string;
  for (const p of own.primaries) await raw(p).cluster("SETSLOT", slot, "NODE", dstId);
  expect(partBehind(await store.parts(), "inc-1", marks)).toBe(null); // the counter survived
  const k = keys[0] as string;
  expect(await store.prepare(prepare(k, b(10, "B")))).toBe(null);
}, 90_000);

it("store - a per-bucket heal whose primary is wiped before its last chunk fails (heal it " +
  "again), never a bucket marked without the states it had written", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("R", own, 2000);
  const bucket = 31;
  const keys = keysInBucket(bucket, 250, "h"); // two chunks of the heal
  await store.acceptMany(keys.map((k) => accept(k, b(50), "v1")));
  const primary = await ownerOf(own, store.hashKey(keys[0] as string));
  const flusher = raw(primary);
  await flusher.flushall(); // the bucket is lost
  expect((await store.parts())[bucket]?.marker).toBe(null);
  const recovered = { promised: b(50), accepted: { ballot: b(50), value: "v1" } };
  const original = Redis.prototype.sendCommand;
  let armed = true;
  // Just before the marking call (the incarnation is its next-to-last argument) the primary
  // is wiped: the first chunk's states are gone.
  (Redis.prototype as unknown as { sendCommand: unknown }).sendCommand = function (
    this: Redis, command: { name: string; args: unknown[] }, ...rest: unknown[]) {
    if (armed && command.name === "evalsha" && String(command.args.at(-2)) === "inc-1") {
      armed = false;
      void flusher.flushall().then(() =>
        (original as (...a: unknown[]) => unknown).call(this, command, ...rest));
      return (command as unknown as { promise: Promise<unknown> }).promise;
    }
    return (original as (...a: unknown[]) => unknown).call(this, command, ...rest);
  };
  try {
    await expect(store.restoreParts(keys.map((key) => ({ key, state: recovered })), [bucket],
      "inc-1", Array.from({ length: 256 }, () => 1))).rejects.toThrow(/heal it again/);
  } finally {
    (Redis.prototype as unknown as { sendCommand: unknown }).sendCommand = original;
  }
  expect(armed).toBe(false);
  expect((await store.parts())[bucket]?.marker).toBe(null);
  expect(await store.prepare(prepare(keys[0] as string, b(10, "B")))).toBe(null);
  // Healed again, whole: the bucket votes with its states.
  expect(await store.restoreParts(keys.map((key) => ({ key, state: recovered })), [bucket],
    "inc-1", Array.from({ length: 256 }, () => 1))).toEqual([bucket]);
  expect((await store.prepare(prepare(keys[0] as string, b(10, "B"))))?.type).toBe("nack");
  expect(await store.fenceIncompleteParts()).toEqual([]);
}, 90_000);

it("store - normal traffic (fast ballot, duplicates in a batch, nacks) during a real " +
  "redis-cli reshard never fences a bucket", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("F", own);
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  let stop = false;
  const traffic = (async () => {
    for (let round = 1; !stop; round++) {
      const batch = Array.from({ length: 40 }, () => `f${rnd(400)}`);
      const kind = rnd(4);
      try {
        if (kind === 0) await store.prepareMany(batch.map((k) => prepare(k, b(0, "fast"))));
        else if (kind === 1) await store.acceptMany(batch.map((k) => accept(k, b(0, "fast"), "fv")));
        else if (kind === 2) await store.prepareMany(batch.map((k) => prepare(k, b(rnd(50) + 1, "P"))));
        else await store.acceptMany(batch.map((k) => accept(k, b(rnd(50) + 1, "P"), `v${round}`)));
        await store.markAnnounced(batch.slice(0, 10));
        await store.read(`f${rnd(500)}`);
      } catch {
        // a call that met the moving slot: refused, never a wrong vote
      }
    }
  })();
  const added = await own.addPrimary();
  await own.reshard(own.primaries[0] as ServerHandle, added, 3000);
  await own.reshard(own.primaries[1] as ServerHandle, added, 2000);
  stop = true;
  await traffic;
  const parts = await store.parts();
  const lost = parts.flatMap((p, i) => p.marker !== "inc-1" ? [i] : []);
  expect(lost).toEqual([]);
  expect(await store.fenceIncompleteParts()).toEqual([]);
}, 240_000);

it("store - two heals of the same lost buckets: the second is refused before it raises any " +
  "mark (the buckets are reserved), so the first's counters stay at or above the registry's",
async () => {
  const own = await startRedisCluster();
  const store = await servingStore("E", own, 2000);
  const key = "k1";
  await store.accept(accept(key, b(5), "v"));
  const recorded = (await store.parts()).map((p) => p.writes);
  await raw(await ownerOf(own, store.hashKey(key))).flushall();
  const lost = (await store.parts()).flatMap((p, i) => p.marker === null ? [i] : []);
  expect(lost).toContain(bucketOf(key));
  const first = await store.claimParts(lost); // process 1, before it raises the marks
  await expect(store.claimParts(lost)).rejects.toThrow(/another rejoin/); // process 2
  await expect(store.claimParts([lost[0] as number])).rejects.toThrow(/another rejoin/);
  const marks = healedMarks(recorded, lost);
  const state = { promised: b(9, "R"), accepted: { ballot: b(9, "R"), value: "v" } };
  expect(await store.restoreParts([{ key, state }], lost, "inc-1", marks, first)).toEqual(lost);
  await store.releaseParts(lost, first);
  expect(partBehind(await store.parts(), "inc-1", marks)).toBe(null);
  await expect(store.claimParts(lost)).rejects.toThrow(/healed meanwhile/); // nothing to heal
  expect((await store.prepare(prepare(key, b(12))))?.type).toBe("promise");
  expect(await store.fenceIncompleteParts()).toEqual([]);
}, 90_000);

it("store - a heal that failed frees its reservation; a heal whose reservation was taken " +
  "over stops (-1) instead of marking", async () => {
  const own = await startRedisCluster();
  const store = await servingStore("G", own, 2000);
  const key = "k1";
  const bucket = bucketOf(key);
  await store.accept(accept(key, b(5), "v"));
  const owner = raw(await ownerOf(own, store.hashKey(key)));
  await owner.flushall();
  const nonce = await store.claimParts([bucket]);
  // Reserved for an hour at most (renewed while the heal runs), only by this heal's nonce.
  const healing = `paxoskv:acc:{${bucketTags("G")[bucket]}}:~healing`;
  const ttl = await owner.pttl(healing);
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(HEAL_CLAIM_MS);
  expect(await owner.eval(RENEW_HEAL_LUA, 1, healing, "another heal", HEAL_CLAIM_MS)).toBe(0);
  expect(await owner.eval(RENEW_HEAL_LUA, 1, healing, nonce, HEAL_CLAIM_MS)).toBe(1);
  await store.releaseParts([bucket], nonce); // the heal failed
  expect(await owner.exists(healing)).toBe(0);
  const again = await store.claimParts([bucket]); // a later heal may run
  // Its reservation lost (the primary wiped again): its restore stops, marks nothing.
  await owner.flushall();
  const state = { promised: b(9, "R"), accepted: { ballot: b(9, "R"), value: "v" } };
  await expect(store.restoreParts([{ key, state }], [bucket], "inc-1",
    Array.from({ length: 256 }, () => 0), again)).rejects.toThrow(/heal it again/);
  expect((await store.parts())[bucket]?.marker).toBe(null);
}, 90_000);

it("buckets - each acceptor's 256 buckets have slots of their own", () => {
  for (const id of ["A", "B", "C", "node-7", "W"]) {
    const slots = new Set(bucketTags(id).map((tag) => slotOfTag(tag)));
    expect(slots.size, id).toBe(256);
  }
});
