/**
 * Matrix row D4: bad arguments straight to the acceptor's Lua scripts (as a client with
 * Redis access could send them). Redis does not roll a script back, so every script must
 * refuse before its first write: after each refused call the database is unchanged.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ACCEPT_LUA, PREPARE_LUA, READ_LUA } from "../../src/adapters/redis/scripts.js";
import { cleanup, startRedis } from "./support/servers.js";

let redis: Redis;

beforeAll(async () => {
  const server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  // One key with state, to see it unchanged.
  await redis.hset("h:k", { promised_round: "10", promised_node: "A" });
  await redis.set("m:inc", "I");
});

afterAll(async () => {
  redis?.disconnect();
  await cleanup();
});

async function dump(): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const key of (await redis.keys("*")).sort()) {
    const type = await redis.type(key);
    out[key] = type === "hash" ? await redis.hgetall(key) :
      type === "string" ? { value: await redis.get(key) ?? "" } :
      Object.fromEntries((await redis.zrange(key, 0, -1)).map((m) => [m, "z"]));
  }
  return out;
}

// Every script's last key is the incarnation marker and its last argument the incarnation
// the node serves as ("I", stored in beforeAll); Prepare and Accept take the write counter
// ("c:w") before it: the calls below fail for their bad arguments.
const cases: [string, string, (string | number)[]][] = [
  ["prepare: no arguments", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "I"]],
  ["prepare: odd argument count", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "11", "I"]],
  ["prepare: negative round", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "-1", "A", "I"]],
  ["prepare: round with a fraction", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "11.5", "A", "I"]],
  ["prepare: round over 16 digits", PREPARE_LUA,
    [3, "h:k", "c:w", "m:inc", "12345678901234567", "A", "I"]],
  ["prepare: empty node", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "11", "", "I"]],
  ["prepare: node with a dot", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "11", "A.B", "I"]],
  ["prepare: node over 32 bytes", PREPARE_LUA, [3, "h:k", "c:w", "m:inc", "11", "N".repeat(33), "I"]],
  ["prepare: the second item is bad (nothing of the first is written)", PREPARE_LUA,
    [4, "h:k", "h:new", "c:w", "m:inc", "11", "A", "x", "A", "I"]],
  ["prepare: another incarnation (a replaced store)", PREPARE_LUA,
    [3, "h:k", "c:w", "m:inc", "11", "A", "J"]],
  ["prepare: no marker (a wiped store)", PREPARE_LUA, [3, "h:k", "c:w", "m:none", "11", "A", ""]],
  ["accept: no keys", ACCEPT_LUA, [0]],
  ["accept: only the unannounced set and the marker", ACCEPT_LUA, [3, "z:u", "c:w", "m:inc", "I"]],
  ["accept: missing the Paxos key argument", ACCEPT_LUA,
    [4, "h:k", "z:u", "c:w", "m:inc", "11", "A", "v", "I"]],
  ["accept: bad round", ACCEPT_LUA, [4, "h:k", "z:u", "c:w", "m:inc", "1e3", "A", "v", "k", "I"]],
  ["accept: the second item is bad (nothing of the first is written)", ACCEPT_LUA,
    [5, "h:k", "h:new", "z:u", "c:w", "m:inc", "11", "A", "v", "k", "11", "", "w", "new", "I"]],
  ["accept: another incarnation (a replaced store)", ACCEPT_LUA,
    [4, "h:new", "z:u", "c:w", "m:inc", "12", "A", "v", "new", "J"]],
  ["read: another incarnation", READ_LUA, [3, "h:k", "c:w", "m:inc", "0", "J"]],
  ["read: a mark that is not a number", READ_LUA, [3, "h:k", "c:w", "m:inc", "x", "I"]],
  ["read: the old arity (no counter, no mark)", READ_LUA, [2, "h:k", "m:inc", "I"]],
];

it.each(cases)("lua scripts refuse before any write - %s", async (_name, script, args) => {
  const before = await dump();
  await expect(redis.eval(script, ...(args as [number, ...string[]])))
    .rejects.toThrow(/^ERR|^PAXOSKV_FENCED/);
  expect(await dump()).toEqual(before);
});

it("lua scripts - the same calls with good arguments do write (the cases above are not vacuous)",
  async () => {
    await redis.eval(PREPARE_LUA, 4, "h:k", "h:new", "c:w", "m:inc", "11", "A", "12", "A", "I");
    await redis.eval(ACCEPT_LUA, 4, "h:new", "z:u", "c:w", "m:inc", "12", "A", "v", "new", "I");
    expect(await redis.eval(READ_LUA, 3, "h:new", "c:w", "m:inc", "0", "I")).toContain("v");
    const state = await dump();
    expect(state["h:k"]).toMatchObject({ promised_round: "11" });
    expect(state["h:new"]).toMatchObject({ accepted_value: "v" });
    // One increment per call that wrote; a call that wrote nothing leaves the counter alone.
    expect(state["c:w"]).toEqual({ value: "2" });
    await redis.eval(PREPARE_LUA, 3, "h:k", "c:w", "m:inc", "5", "A", "I"); // a nack
    expect((await dump())["c:w"]).toEqual({ value: "2" });
    // A read with the mark the registry holds: at or below the counter it answers; above it
    // (the store was rolled back below what its node recorded) it is refused.
    expect(await redis.eval(READ_LUA, 3, "h:new", "c:w", "m:inc", "2", "I")).toContain("v");
    await expect(redis.eval(READ_LUA, 3, "h:new", "c:w", "m:inc", "3", "I"))
      .rejects.toThrow(/^PAXOSKV_FENCED .*rolled back/);
  });
