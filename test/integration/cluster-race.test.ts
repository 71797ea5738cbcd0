/**
 * The seed's race over the real stack: nodes A, B, C (proposer + acceptor + learner each) as
 * child processes, clients on their own NATS connections racing different values for the
 * same keys through `paxoskv.create.*`. Checks the replies, `get`, and each acceptor's Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient, type CreateResult } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { PaxosKvError } from "../../src/protocol/codes.js";
import {
  AcceptorRedis, majorityAccepted, mapLimit, poll, readChosenLog,
} from "./support/cluster-tools.js";
import { cleanup } from "./support/servers.js";

const KEY_COUNT = 300;
/** Client i proposes VALUES[i]; clients 2 and 3 share a value on every third key. */
const CLIENT_COUNT = 3;
/** Keys sent at once by every client. */
const WAVE = 10;
const NODE_ENV = { PAXOSKV_REQUEST_TIMEOUT_MS: "8000" };

let cluster: LocalCluster;
/** Proposals that needed more than one ballot (a duel), from the nodes' "proposal done" logs. */
let dueled = 0;
function countRounds(_node: string, text: string): void {
  for (const line of text.split("\n")) {
    const rounds = /"rounds":(\d+).*"msg":"proposal done"/.exec(line)?.[1];
    if (rounds !== undefined && Number(rounds) > 1) dueled++;
  }
}
let redis: AcceptorRedis;
const clients: PaxosKvClient[] = [];

beforeAll(async () => {
  // Debug logs say how many ballots each proposal took: the race must really make them duel.
  cluster = await startLocalCluster({ logLevel: "debug", echo: countRounds });
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, undefined, NODE_ENV)));
  for (let i = 0; i < CLIENT_COUNT; i++) {
    clients.push(await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 15_000 }));
  }
  redis = new AcceptorRedis(cluster);
});

afterAll(async () => {
  redis?.close();
  await Promise.allSettled(clients.map((c) => c.close()));
  await cluster?.stopNodes();
  await cleanup();
});

/** What client `c` proposes for key number `k`. */
function valueOf(c: number, k: number): string {
  if (k % 3 === 0 && c === 2) return valueOf(1, k); // two clients agree: two winners possible
  return `v${c}-${k}-${"x".repeat(k % 7)}`;
}

/**
 * A create, retried on TIMEOUT (the contract says retrying the same create is always safe and
 * resolves an unknown outcome). Returns the result and how many attempts it took.
 */
async function createRetrying(
  client: PaxosKvClient, key: string, value: string,
): Promise<{ result: CreateResult; attempts: number }> {
  for (let attempts = 1; ; attempts++) {
    try {
      return { result: await client.create(key, value), attempts };
    } catch (err) {
      if (!(err instanceof PaxosKvError) || err.code !== "TIMEOUT" || attempts >= 5) throw err;
    }
  }
}

describe("cluster - the seed race over NATS and Redis", () => {
  it("race - the seed's X=3 against X=7 ends with one value for both clients", async () => {
    const [one, two] = clients as [PaxosKvClient, PaxosKvClient];
    const [r1, r2] = await Promise.all([one.create("X", "3"), two.create("X", "7")]);
    expect(r1.value).toBe(r2.value);
    expect(["3", "7"]).toContain(r1.value);
    expect(r1.created).toBe(r1.value === "3");
    expect(r2.created).toBe(r2.value === "7");
    expect(await one.get("X")).toEqual({ key: "X", found: true, value: r1.value });
    expect(await two.get("X")).toEqual({ key: "X", found: true, value: r1.value });
  });

  it(`race - ${CLIENT_COUNT} clients racing ${KEY_COUNT} keys agree, and a majority ` +
    "of acceptors holds it", async () => {
    const keys = Array.from({ length: KEY_COUNT }, (_, k) => `race.k${k}`);
    // Waves of keys: every client sends every key of a wave at the same moment, so the
    // requests for one key reach different nodes together and their proposers duel.
    let retries = 0;
    const perClient = clients.map(() => new Array<CreateResult>(KEY_COUNT));
    for (let start = 0; start < KEY_COUNT; start += WAVE) {
      const wave = keys.map((_, k) => k).slice(start, start + WAVE);
      await Promise.all(clients.flatMap((client, c) => wave.map(async (k) => {
        const { result, attempts } = await createRetrying(client, keys[k] as string, valueOf(c, k));
        retries += attempts - 1;
        (perClient[c] as CreateResult[])[k] = result;
      })));
    }
    expect(dueled, "proposers really dueled (proposals with more than one ballot)")
      .toBeGreaterThan(0);
    if (retries > 0) console.warn(`race: ${retries} creates answered TIMEOUT and were retried`);

    const chosen: string[] = [];
    for (let k = 0; k < KEY_COUNT; k++) {
      const key = keys[k] as string;
      const replies = perClient.map((results) => results[k] as CreateResult);
      const value = replies[0]?.value as string;
      chosen.push(value);
      for (const reply of replies) {
        expect(reply.key).toBe(key);
        expect(reply.value, `replies for ${key}`).toBe(value);
      }
      const proposed = replies.map((_, c) => valueOf(c, k));
      expect(proposed, `${key}'s chosen value is one that was proposed`).toContain(value);
      // `created` is true exactly for the clients whose value was chosen.
      expect(replies.map((r) => r.created)).toEqual(proposed.map((v) => v === value));
    }

    // A get after the creates returns the chosen value (linearizable read), from any client.
    await mapLimit(keys, 50, async (key, k) => {
      const client = clients[k % CLIENT_COUNT] as PaxosKvClient;
      expect(await client.get(key)).toEqual({ key, found: true, value: chosen[k] });
    });

    // Each acceptor's Redis directly: a majority holds the same accepted ballot and value.
    await mapLimit(keys, 20, async (key, k) => {
      const hashes = await redis.readAll(key);
      const majority = majorityAccepted(hashes);
      expect(majority, `a majority accepted one proposal for ${key}: ` +
        JSON.stringify([...hashes])).not.toBeNull();
      expect(majority?.value).toBe(chosen[k]);
      for (const h of hashes.values()) {
        // Accepting also promises: nothing is accepted above its promise.
        if (h["accepted_round"] === undefined) continue;
        expect(Number(h["promised_round"])).toBeGreaterThanOrEqual(Number(h["accepted_round"]));
      }
    });
  });

  it("race - a get right after each create returns that create's value", async () => {
    const keys = Array.from({ length: 100 }, (_, k) => `race.then-get.k${k}`);
    await Promise.all(keys.flatMap((key, k) => clients.map(async (client, c) => {
      const { result } = await createRetrying(client, key, valueOf(c, k));
      expect(await client.get(key)).toEqual({ key, found: true, value: result.value });
      // A replica may not have it yet (a miss may be stale), but never holds another value.
      const replica = await client.get(key, { replica: true });
      if (replica.found) expect(replica.value).toBe(result.value);
    })));
  });

  it("race - the chosen log holds every key with one value despite racing announcers, " +
    "under one subject per node", async () => {
      const nc = (clients[0] as PaxosKvClient).nc;
      // Announcements are asynchronous after the reply: wait for them to settle.
      const expected = 1 + KEY_COUNT + 100;
      const log = await poll(`${expected} chosen keys`, async () => {
        const now = await readChosenLog(nc, cluster.prefix);
        return now.events.size >= expected ? now : undefined;
      }, { timeoutMs: 15_000, intervalMs: 100 });
      expect(log.events.size).toBe(expected);
      for (const [key, events] of log.events) {
        expect(new Set(events.map((e) => e.value)).size, key).toBe(1);
      }
      expect(Object.keys(log.subjects).every((s) => /^paxoskv\.log\.[ABC]$/.test(s)),
        JSON.stringify(log.subjects)).toBe(true);
    });
});
