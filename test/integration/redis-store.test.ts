import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EMPTY_ACCEPTOR_STATE, onAccept, onPrepare, type AcceptorState,
} from "../../src/core/acceptor.js";
import { AssertionFailure } from "../../src/core/assert.js";
import { ballot, compareBallots, FAST_BALLOT, maxBallot, type Ballot } from "../../src/core/ballot.js";
import type { MsgAccept, MsgPrepare } from "../../src/core/messages.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import {
  checkDurability, NotDurableError, RedisAcceptorStore, RedisStoreError,
  type RedisAcceptorStoreOptions,
} from "../../src/adapters/redis/index.js";
import { PREPARE_LUA } from "../../src/adapters/redis/scripts.js";
import { AcceptorFencedError } from "../../src/adapters/ports.js";
import { cleanup, startRedis, type ServerHandle } from "./support/servers.js";

const stores: RedisAcceptorStore[] = [];
const clients: Redis[] = [];

/** A store claimed and serving, as the node's membership leaves it (see fencing tests). */
async function openStore(
  server: ServerHandle, acceptorId = "A", extra: Partial<RedisAcceptorStoreOptions> = {},
): Promise<RedisAcceptorStore> {
  const store = new RedisAcceptorStore({ acceptorId, url: server.url, ...extra });
  stores.push(store);
  store.serveAs(await store.adoptIncarnation("test-incarnation"));
  return store;
}

function rawClient(server: ServerHandle): Redis {
  const client = new Redis(server.url);
  clients.push(client);
  return client;
}

let redis: ServerHandle;
let keyCount = 0;
/** A key no other test touches. */
const fresh = (name = "k") => `${name}.${++keyCount}`;
const b = (round: number, nodeId = "A"): Ballot => ballot(round, nodeId);
const prepare = (key: string, n: Ballot): MsgPrepare => ({ type: "prepare", key, ballot: n });
const accept = (key: string, n: Ballot, value: string): MsgAccept =>
  ({ type: "accept", key, ballot: n, value });

beforeAll(async () => {
  redis = await startRedis({ appendfsync: "always" });
});

afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  for (const c of clients) c.disconnect();
  await cleanup();
});

describe("redis store - acceptor rules", () => {
  it("acceptor - promises on a first Prepare and answers empty", async () => {
    const store = await openStore(redis);
    const key = fresh();
    expect(await store.read(key)).toEqual(EMPTY_ACCEPTOR_STATE);
    expect(await store.prepare(prepare(key, b(5)))).toEqual({
      type: "promise", key, from: "A", ballot: b(5), accepted: null,
    });
    expect(await store.read(key)).toEqual({ promised: b(5), accepted: null });
  });

  // "promise 1: it will no longer accept a Prepare whose ID is <= n"
  it.each([
    ["equal", b(5, "B")], ["same round, lower node ID", b(5, "A")], ["lower round", b(4, "Z")],
  ])("acceptor - rejects Prepare at or below promised: %s", async (_, n) => {
    const store = await openStore(redis);
    const key = fresh();
    await store.prepare(prepare(key, b(5, "B")));
    expect(await store.prepare(prepare(key, n))).toEqual({
      type: "nack", key, from: "A", phase: "prepare", ballot: n, promised: b(5, "B"),
    });
    expect(await store.read(key)).toEqual({ promised: b(5, "B"), accepted: null });
  });

  it("acceptor - promises a Prepare above promised", async () => {
    const store = await openStore(redis);
    const key = fresh();
    await store.prepare(prepare(key, b(5, "B")));
    expect((await store.prepare(prepare(key, b(5, "C")))).type).toBe("promise");
    expect((await store.prepare(prepare(key, b(6, "A")))).type).toBe("promise");
    expect((await store.read(key)).promised).toEqual(b(6, "A"));
  });

  // "promise 2: it will no longer accept an Accept whose ID is < n"
  it.each([["same round, lower node ID", b(5, "A")], ["lower round", b(4, "Z")]])(
    "acceptor - rejects Accept below promised: %s", async (_, n) => {
      const store = await openStore(redis);
      const key = fresh();
      await store.prepare(prepare(key, b(5, "B")));
      expect(await store.accept(accept(key, n, "v"))).toEqual({
        type: "nack", key, from: "A", phase: "accept", ballot: n, promised: b(5, "B"),
      });
      expect(await store.read(key)).toEqual({ promised: b(5, "B"), accepted: null });
    });

  it("acceptor - accepts at promised, and again (a duplicate Accept)", async () => {
    const store = await openStore(redis);
    const key = fresh();
    await store.prepare(prepare(key, b(5, "B")));
    const accepted = { type: "accepted", key, from: "A", ballot: b(5, "B") };
    expect(await store.accept(accept(key, b(5, "B"), "v"))).toEqual(accepted);
    expect(await store.accept(accept(key, b(5, "B"), "v"))).toEqual(accepted);
    expect(await store.read(key)).toEqual({
      promised: b(5, "B"), accepted: { ballot: b(5, "B"), value: "v" },
    });
  });

  it("acceptor - accepting above promised also promises n", async () => {
    const store = await openStore(redis);
    const key = fresh();
    await store.prepare(prepare(key, b(3)));
    expect((await store.accept(accept(key, b(7, "C"), "v"))).type).toBe("accepted");
    expect((await store.read(key)).promised).toEqual(b(7, "C"));
    expect((await store.prepare(prepare(key, b(7, "C")))).type).toBe("nack");
    expect((await store.prepare(prepare(key, b(7, "B")))).type).toBe("nack");
  });

  it("acceptor - accepts on a key with no promise", async () => {
    const store = await openStore(redis);
    const key = fresh();
    expect((await store.accept(accept(key, b(1), "v"))).type).toBe("accepted");
    expect(await store.read(key)).toEqual({
      promised: b(1), accepted: { ballot: b(1), value: "v" },
    });
  });

  it("acceptor - takes the fast ballot only while nothing is promised", async () => {
    const store = await openStore(redis);
    const key = fresh();
    const fastAccepted = { type: "accepted", key, from: "A", ballot: FAST_BALLOT };
    expect(await store.accept(accept(key, FAST_BALLOT, "v"))).toEqual(fastAccepted);
    // The same value again is answered; another value is refused, naming the fast ballot.
    expect(await store.accept(accept(key, FAST_BALLOT, "v"))).toEqual(fastAccepted);
    expect(await store.accept(accept(key, FAST_BALLOT, "w"))).toMatchObject(
      { type: "nack", promised: FAST_BALLOT });
    expect(await store.prepare(prepare(key, FAST_BALLOT))).toMatchObject({ type: "nack" });
    expect(await store.prepare(prepare(key, b(3)))).toMatchObject(
      { type: "promise", accepted: { ballot: FAST_BALLOT, value: "v" } });
    expect(await store.accept(accept(key, FAST_BALLOT, "v"))).toMatchObject(
      { type: "nack", promised: b(3) });
    expect(await store.read(key)).toEqual({
      promised: b(3), accepted: { ballot: FAST_BALLOT, value: "v" },
    });
    const promisedFirst = fresh();
    await store.prepare(prepare(promisedFirst, b(1)));
    expect((await store.accept(accept(promisedFirst, FAST_BALLOT, "v"))).type).toBe("nack");
  });

  // "answer: it replies with the value and ID of the accepted proposal with the highest ID"
  it("acceptor - a promise answers with the highest accepted proposal", async () => {
    const store = await openStore(redis);
    const key = fresh();
    await store.accept(accept(key, b(2, "A"), "x"));
    await store.accept(accept(key, b(4, "B"), "y"));
    expect(await store.prepare(prepare(key, b(5)))).toEqual({
      type: "promise", key, from: "A", ballot: b(5), accepted: { ballot: b(4, "B"), value: "y" },
    });
  });

  // Lua's `<` on strings would use strcoll; these pairs are in byte order, as in compareBallots.
  it.each([
    [b(1, "Z"), b(1, "a")], [b(1, "A"), b(1, "AA")], [b(1, "-"), b(1, "0")],
    [b(1, "9"), b(1, "A")], [b(1, "Z"), b(1, "_")], [b(1, "_"), b(1, "a")],
    [b(1, "AB"), b(1, "B")], [b(9, "z"), b(10, "A")], [b(99, "A"), b(100, "A")],
    [b(2 ** 53 - 2, "A"), b(2 ** 53 - 1, "A")],
  ])("acceptor - orders ballots like the core: %o < %o", async (low, high) => {
    expect(compareBallots(low, high)).toBe(-1);
    const store = await openStore(redis);
    const key = fresh();
    expect((await store.prepare(prepare(key, low))).type).toBe("promise");
    expect((await store.prepare(prepare(key, high))).type).toBe("promise");
    expect((await store.prepare(prepare(key, low))).type).toBe("nack");
  });

  it("acceptor - keys and acceptor IDs are independent", async () => {
    const [a, c] = [await openStore(redis, "A"), await openStore(redis, "C")];
    const key = fresh();
    await a.prepare(prepare(key, b(9)));
    expect((await c.prepare(prepare(key, b(1)))).type).toBe("promise");
    expect((await a.prepare(prepare(`${key}.other`, b(1)))).type).toBe("promise");
  });

  it("store - refuses a malformed ballot before and inside Redis", async () => {
    const store = await openStore(redis);
    const bad = { round: 1.5, nodeId: "A" };
    await expect(store.prepare(prepare(fresh(), bad))).rejects.toThrow(AssertionFailure);
    await expect(store.prepare(prepare(fresh(), { round: 1, nodeId: "a b" })))
      .rejects.toThrow(AssertionFailure);
    const raw = rawClient(redis);
    const marker = "paxoskv:acc:A:~incarnation";
    await expect(raw.eval(PREPARE_LUA, 3, "x", "w", marker, "1.5", "A", "test-incarnation"))
      .rejects.toThrow(/invalid ballot/);
    await expect(raw.eval(PREPARE_LUA, 3, "x", "w", marker, "1", "a:b", "test-incarnation"))
      .rejects.toThrow(/invalid ballot/);
  });
});

describe("redis store - values and keys", () => {
  it.each([
    ["empty", ""],
    ["unicode", "héllo wörld · 数据 · 🚀 · 👩‍👩‍👧 · e\u0301"],
    ["control bytes", "\u0000nul\r\n\t"],
    ["64 KiB ASCII", "x".repeat(64 * 1024)],
    ["64 KiB two-byte UTF-8", "é".repeat(32 * 1024)],
  ])("store - round-trips a value exactly: %s", async (_, value) => {
    const store = await openStore(redis);
    const key = fresh();
    await store.accept(accept(key, b(1), value));
    expect((await store.read(key)).accepted?.value).toBe(value);
    const promise = await store.prepare(prepare(key, b(2)));
    expect(promise.type === "promise" && promise.accepted?.value).toBe(value);
  });

  it.each(["a.b.c", "x:y:z", "k=v", "a-b_c", "A.b:c=d-e_f.0", "k".repeat(255)])(
    "store - works with key %s", async (key) => {
      const store = await openStore(redis, "K");
      await store.accept(accept(key, b(1), "v"));
      expect(await store.read(key))
        .toEqual({ promised: b(1), accepted: { ballot: b(1), value: "v" } });
      expect(store.hashKey(key)).toBe(`paxoskv:acc:K:${key}`);
      expect(await rawClient(redis).hget(`paxoskv:acc:K:${key}`, "accepted_value")).toBe("v");
    });
});

describe("redis store - durability", () => {
  it("store - durable with appendonly yes and appendfsync always", async () => {
    expect(await (await openStore(redis)).durability()).toEqual({
      appendonly: true, appendfsync: "always", durable: true,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
  });

  it.each([
    ["no AOF", { appendonly: false }, { appendonly: false, appendfsync: "always" }],
    ["fsync every second", { appendfsync: "everysec" as const },
      { appendonly: true, appendfsync: "everysec" }],
  ])("store - not durable with %s", async (_, options, expected) => {
    const server = await startRedis(options);
    const store = await openStore(server);
    expect(await store.durability()).toEqual({ ...expected, durable: false,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    const warnings: string[] = [];
    const log = { warn: (_d: object, message: string) => { warnings.push(message); } };
    await expect(checkDurability(store, { requireDurable: true, log }))
      .rejects.toMatchObject({ name: "NotDurableError", code: "NOT_DURABLE" });
    await expect(checkDurability(store, { requireDurable: true, log }))
      .rejects.toThrow(NotDurableError);
    expect((await checkDurability(store, { requireDurable: false, log })).durable).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^UNSAFE: .*appendfsync always/)]);
    await server.stop();
  });

  it("store - checkDurability is silent on a durable Redis", async () => {
    const warnings: string[] = [];
    const log = { warn: (_d: object, message: string) => { warnings.push(message); } };
    const durability = await checkDurability(await openStore(redis), { requireDurable: true, log });
    expect(durability.durable).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("store - promises and accepted values survive kill -9 and restart", async () => {
    const server = await startRedis({ appendfsync: "always" });
    const store = await openStore(server);
    const keys = Array.from({ length: 20 }, (_, i) => `crash.${i}`);
    await Promise.all(keys.map(async (key, i) => {
      await store.prepare(prepare(key, b(10 + i, "B")));
      if (i % 2 === 0) await store.accept(accept(key, b(10 + i, "B"), `v${i}`));
    }));
    const before = await Promise.all(keys.map((key) => store.read(key)));
    await server.kill("SIGKILL");
    await server.restart();
    // The same store reconnects, and its scripts (gone from Redis's cache) load again.
    expect(await Promise.all(keys.map((key) => store.read(key)))).toEqual(before);
    expect((await store.prepare(prepare("crash.0", b(10, "B")))).type).toBe("nack");
    expect((await store.prepare(prepare("crash.0", b(11, "B")))).type).toBe("promise");
  });

  it("store - a request during an outage rejects quickly, then the store recovers",
    async () => {
      const server = await startRedis();
      const store = await openStore(server);
      expect((await store.prepare(prepare("outage", b(1)))).type).toBe("promise");
      await server.kill("SIGKILL");
      const started = Date.now();
      const failure = await store.prepare(prepare("outage", b(2))).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(RedisStoreError);
      expect(failure).toMatchObject({ code: "UNAVAILABLE" });
      expect(Date.now() - started).toBeLessThan(5000);
      await server.restart();
      expect((await store.prepare(prepare("outage", b(3)))).type).toBe("promise");
    });
});

describe("redis store - fencing (the incarnation marker)", () => {
  /** Acceptor F on a Redis of its own, with no marker yet. */
  async function storeOnOwnRedis() {
    const server = await startRedis();
    const store = new RedisAcceptorStore({ acceptorId: "F", url: server.url });
    stores.push(store);
    return { server, store };
  }

  it("store - refuses every transition and read until it serves as its marker", async () => {
    const { server, store } = await storeOnOwnRedis();
    await expect(store.prepare(prepare("f.1", b(5)))).rejects.toThrow(AcceptorFencedError);
    const marker = await store.adoptIncarnation("inc-1");
    expect(await store.adoptIncarnation("inc-2")).toBe("inc-1"); // the first claim stays
    store.serveAs("inc-2");
    await expect(store.accept(accept("f.1", b(5), "v"))).rejects.toThrow(AcceptorFencedError);
    await expect(store.read("f.1")).rejects.toThrow(AcceptorFencedError);
    expect(await rawClient(server).keys("paxoskv:acc:F:f.*")).toEqual([]); // nothing written
    store.serveAs(marker);
    expect((await store.prepare(prepare("f.1", b(5)))).type).toBe("promise");
    expect(await store.holdsState()).toBe(true);
  });

  it("store - a Redis wiped under a serving store refuses the next message, writing nothing",
    async () => {
      const { server, store } = await storeOnOwnRedis();
      store.serveAs(await store.adoptIncarnation("inc-1"));
      await store.accept(accept("f.2", b(7), "v"));
      await rawClient(server).flushall();
      await expect(store.prepare(prepare("f.2", b(8)))).rejects.toThrow(AcceptorFencedError);
      await expect(store.acceptMany([accept("f.2", b(9), "w"), accept("f.3", b(9), "w")]))
        .rejects.toThrow(AcceptorFencedError);
      // Nor does it list its (now empty) keys as if it held nothing.
      await expect(store.scanKeys("0", 10)).rejects.toThrow(AcceptorFencedError);
      expect(await rawClient(server).keys("*")).toEqual([]);
      expect(await store.incarnation()).toBeNull();
    });

  it("store - restore installs recovered states and then the marker; clear removes all",
    async () => {
      const { server, store } = await storeOnOwnRedis();
      store.serveAs(await store.adoptIncarnation("old"));
      await store.accept(accept("stale", b(3), "x"));
      await store.clear();
      expect(await rawClient(server).keys("*")).toEqual([]);
      const chosen: AcceptorState = { promised: b(20, "R"), accepted: { ballot: b(20, "R"), value: "v" } };
      const empty: AcceptorState = { promised: b(21, "R"), accepted: null };
      await store.restore([{ key: "r.1", state: chosen }, { key: "r.2", state: empty }], "new");
      expect(await store.incarnation()).toBe("new");
      store.serveAs("new");
      expect(await store.read("r.1")).toEqual(chosen);
      expect(await store.read("r.2")).toEqual(empty);
      expect(await store.read("stale")).toEqual(EMPTY_ACCEPTOR_STATE);
      // The recovered promise holds: a lower Prepare is refused, a lower Accept too.
      expect((await store.prepare(prepare("r.2", b(21, "Q")))).type).toBe("nack");
      expect((await store.accept(accept("r.1", b(19, "Z"), "w"))).type).toBe("nack");
      // The recovered accepted value waits for the announcement repair, as any accept does.
      expect(await store.unannounced(0, 0, 10)).toEqual(["r.1"]);
    });
});

describe("redis store - differential against the core", () => {
  const nodeIds = ["A", "B", "Z", "a", "_", "-", "AA", "b9"];

  function randomBallot(random: Random): Ballot {
    const round = randomInt(random, 6);
    return round === 0 ? FAST_BALLOT : b(round, nodeIds[randomInt(random, nodeIds.length)] ?? "A");
  }

  it.each(Array.from({ length: 12 }, (_, i) => i + 1))(
    "store - seeded prepares and accepts match onPrepare/onAccept: SEED=%i", async (seed) => {
      const store = await openStore(redis, "D");
      const random = seededRandom(seed);
      const keys = [0, 1, 2].map((i) => `diff.${seed}.${i}`);
      const core = new Map<string, AcceptorState>();
      for (let step = 0; step < 150; step++) {
        const key = keys[randomInt(random, keys.length)] ?? "";
        const state = core.get(key) ?? EMPTY_ACCEPTOR_STATE;
        const n = randomBallot(random);
        const where = `reproduce with SEED=${seed}, step ${step}`;
        // Every reply echoes the request's proposal ID, or none from an older proposer.
        const tag = random.next() < 0.2 ? {} : { proposalId: `p${step}` };
        if (random.next() < 0.5) {
          const msg = { ...prepare(key, n), ...tag };
          const expected = onPrepare(state, msg, "D");
          expect(await store.prepare(msg), where).toEqual(expected.reply);
          core.set(key, expected.state);
        } else {
          // Few values, so fast Accepts repeat a value as often as they bring another.
          const msg = { ...accept(key, n, `v${randomInt(random, 3)}`), ...tag };
          const expected = onAccept(state, msg, "D");
          expect(await store.accept(msg), where).toEqual(expected.reply);
          core.set(key, expected.state);
        }
        expect(await store.read(key), where).toEqual(core.get(key));
      }
    });
});

describe("redis store - shared acceptor", () => {
  it("store - two instances of one acceptor on one Redis keep the rules under load",
    async () => {
      const [one, two] = [await openStore(redis, "S"), await openStore(redis, "S")];
      const keys = ["shared.0", "shared.1", "shared.2"];
      const promised = new Map<string, number>(); // `${key}/${ballot}` → promises granted
      const granted = new Map<string, Ballot | null>(); // key → highest ballot granted
      const accepts = new Map<string, Ballot | null>(); // key → highest Accept granted
      const valueOf = (n: Ballot) => `value of ${n.round}.${n.nodeId}`;

      // Both instances send the same stream of ballots, so most messages race a twin.
      async function worker(store: RedisAcceptorStore, seed: number): Promise<void> {
        const random = seededRandom(seed);
        for (let i = 0; i < 150; i++) {
          const key = keys[randomInt(random, keys.length)] ?? "";
          const n = b(1 + Math.floor(i / 3) + randomInt(random, 4), random.next() < 0.5 ? "P" : "Q");
          const reply = random.next() < 0.5
            ? await store.prepare(prepare(key, n))
            : await store.accept(accept(key, n, valueOf(n)));
          if (reply.type === "nack") continue;
          granted.set(key, maxBallot(granted.get(key) ?? null, n));
          if (reply.type === "accepted") accepts.set(key, maxBallot(accepts.get(key) ?? null, n));
          else {
            const id = `${key}/${n.round}.${n.nodeId}`;
            promised.set(id, (promised.get(id) ?? 0) + 1);
            const answer = reply.accepted;
            if (answer !== null) expect(answer.value).toBe(valueOf(answer.ballot));
          }
        }
      }

      // A reader watching every key: promises and accepts never move backwards.
      let loading = true;
      const observed = new Map<string, AcceptorState>();
      async function watch(): Promise<number> {
        let reads = 0;
        while (loading) {
          for (const key of keys) {
            const state = await one.read(key); // asserts accepted <= promised
            const last = observed.get(key) ?? EMPTY_ACCEPTOR_STATE;
            expect(compareBallots(state.promised, last.promised)).toBeGreaterThanOrEqual(0);
            expect(compareBallots(state.accepted?.ballot ?? null,
              last.accepted?.ballot ?? null)).toBeGreaterThanOrEqual(0);
            observed.set(key, state);
            reads++;
          }
        }
        return reads;
      }

      const watcher = watch();
      const workers = [1, 2, 3, 4].flatMap((seed) => [worker(one, seed), worker(two, seed)]);
      await Promise.all(workers).finally(() => { loading = false; });
      expect(await watcher).toBeGreaterThan(0);

      // Each ballot was promised at most once, though both instances asked for it.
      expect(Math.max(...promised.values())).toBe(1);
      for (const key of keys) {
        const state = await two.read(key);
        expect(state.promised).toEqual(granted.get(key) ?? null);
        const top = accepts.get(key) ?? null;
        expect(state.accepted).toEqual(top === null ? null : { ballot: top, value: valueOf(top) });
      }
    });
});
