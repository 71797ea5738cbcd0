/**
 * Matrix row D4: bad arguments straight to the acceptor's Lua scripts (as a client with
 * Redis access could send them). Redis does not roll a script back, so every script must
 * refuse before its first write: after each refused call the database is unchanged.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ACCEPT_LUA, PREPARE_LUA } from "../../src/adapters/redis/scripts.js";
import { cleanup, startRedis } from "./support/servers.js";

let redis: Redis;

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  // One key with state, to see it unchanged.
  await redis.hset("h:k", { promised_round: "10", promised_node: "A" });
});

afterAll(async () => {
  redis?.disconnect();
  await cleanup();
});

async function dump(): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const key of (await redis.keys("*")).sort()) {
    out[key] = (await redis.type(key)) === "hash" ? await redis.hgetall(key) :
      Object.fromEntries((await redis.zrange(key, 0, -1)).map((m) => [m, "z"]));
  }
  return out;
}

const cases: [string, string, (string | number)[]][] = [
  ["prepare: no arguments", PREPARE_LUA, [1, "h:k"]],
  ["prepare: odd argument count", PREPARE_LUA, [1, "h:k", "11"]],
  ["prepare: negative round", PREPARE_LUA, [1, "h:k", "-1", "A"]],
  ["prepare: round with a fraction", PREPARE_LUA, [1, "h:k", "11.5", "A"]],
  ["prepare: round over 16 digits", PREPARE_LUA, [1, "h:k", "12345678901234567", "A"]],
  ["prepare: empty node", PREPARE_LUA, [1, "h:k", "11", ""]],
  ["prepare: node with a dot", PREPARE_LUA, [1, "h:k", "11", "A.B"]],
  ["prepare: node over 32 bytes", PREPARE_LUA, [1, "h:k", "11", "N".repeat(33)]],
  ["prepare: the second item is bad (nothing of the first is written)", PREPARE_LUA,
    [2, "h:k", "h:new", "11", "A", "x", "A"]],
  ["accept: no keys", ACCEPT_LUA, [0]],
  ["accept: only the unannounced set", ACCEPT_LUA, [1, "z:u"]],
  ["accept: missing the Paxos key argument", ACCEPT_LUA, [2, "h:k", "z:u", "11", "A", "v"]],
  ["accept: bad round", ACCEPT_LUA, [2, "h:k", "z:u", "1e3", "A", "v", "k"]],
  ["accept: the second item is bad (nothing of the first is written)", ACCEPT_LUA,
    [3, "h:k", "h:new", "z:u", "11", "A", "v", "k", "11", "", "w", "new"]],
];

it.each(cases)("lua scripts refuse before any write - %s", async (_name, script, args) => {
  const before = await dump();
  await expect(redis.eval(script, ...(args as [number, ...string[]]))).rejects.toThrow(/ERR/);
  expect(await dump()).toEqual(before);
});

it("lua scripts - the same calls with good arguments do write (the cases above are not vacuous)",
  async () => {
    await redis.eval(PREPARE_LUA, 2, "h:k", "h:new", "11", "A", "12", "A");
    await redis.eval(ACCEPT_LUA, 2, "h:new", "z:u", "12", "A", "v", "new");
    const state = await dump();
    expect(state["h:k"]).toMatchObject({ promised_round: "11" });
    expect(state["h:new"]).toMatchObject({ accepted_value: "v" });
  });
