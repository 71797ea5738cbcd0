/**
 * Values near the 64 KiB limit, many keys at once. Requests are batched per verb, and an
 * acceptor answers a whole batch in one NATS message, so the replies to Prepare and Read
 * carry every accepted value of the batch: they must still fit NATS' max_payload (1 MiB),
 * and an acceptor must never crash over it.
 *
 * Nodes A, B, C are proposers and acceptors only (no replica to answer a create of a known
 * key without Paxos); L is a learner-only node that serves `get`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { AcceptorRedis, poll } from "./support/cluster-tools.js";
import { cleanup } from "./support/servers.js";

/** Enough keys that one batch's replies add up to more than 1 MiB. */
const KEY_COUNT = 30;
/** Spread over three proposers (queue group): about 20 keys, 1.2 MiB of values, each. */
const RECREATE_COUNT = 60;
const VALUE_BYTES = 60 * 1024;
/** The largest maximum the configuration allows (512 KiB). */
const VALUE_BYTES_MAX = 512 * 1024;
const NODE_ENV = {
  PAXOSKV_REQUEST_TIMEOUT_MS: "3000", PAXOSKV_MAX_VALUE_BYTES: String(VALUE_BYTES_MAX),
};

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  cluster = await startLocalCluster();
  nodes.push(...await Promise.all(["A", "B", "C"].map((id) =>
    cluster.spawnNode(id, "proposer,acceptor", NODE_ENV))));
  nodes.push(await cluster.spawnNode("L", "learner", NODE_ENV));
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 6000 });
  redis = new AcceptorRedis(cluster);
});

afterAll(async () => {
  redis?.close();
  await client?.close();
  await cluster?.stopNodes();
  await cleanup();
});

// A test that crashed nodes must not take the next one down with it.
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.running ? undefined : n.start()));
});

/** A value of VALUE_BYTES ASCII bytes, different per key. */
const big = (name: string, i: number) => `${name}-${i}-`.padEnd(VALUE_BYTES, "x");

function crashed(): string[] {
  return nodes.filter((n) => !n.running).map((n) =>
    `${n.id}: ${n.output().split("\n").filter((l) => l.includes('"level":"fatal"')).join("\n")}`);
}

describe("large values - many at once", () => {
  it(`large values - re-creating ${RECREATE_COUNT} keys that hold 60 KiB values, at once, ` +
    "answers their values and keeps every acceptor up", async () => {
    const keys = Array.from({ length: RECREATE_COUNT }, (_, i) => `large.recreate.${i}`);
    await Promise.all(keys.map(async (key, i) => {
      const value = big("recreate", i);
      expect(await client.create(key, value)).toEqual({ key, value, created: true });
    }));
    // Each proposer sends one Prepare batch; each acceptor's promise batch carries every
    // accepted value (60 KiB per key).
    const replies = await Promise.allSettled(keys.map((key) => client.create(key, "other")));
    expect(crashed(), "nodes that stopped").toEqual([]);
    replies.forEach((reply, i) => {
      expect(reply.status === "fulfilled" ? reply.value : String(reply.reason)).toEqual(
        { key: keys[i], value: big("recreate", i), created: false });
    });
  });

  it(`large values - ${KEY_COUNT} gets at once of keys a crashed proposer left accepted ` +
    "but unannounced (quorum reads of 60 KiB values)", async () => {
    const keys = Array.from({ length: KEY_COUNT }, (_, i) => `large.orphan.${i}`);
    const round = Date.now();
    for (const [i, key] of keys.entries()) {
      for (const id of cluster.acceptors) {
        await redis.writeAccepted(id, key, round, "A", big("orphan", i));
      }
    }
    // The learner's replica misses them all: its quorum reads go out as one Read batch.
    const replies = await Promise.allSettled(keys.map((key) => client.get(key)));
    expect(crashed(), "nodes that stopped").toEqual([]);
    replies.forEach((reply, i) => {
      expect(reply.status === "fulfilled" ? reply.value : String(reply.reason)).toEqual(
        { key: keys[i], found: true, value: big("orphan", i) });
    });
  });

  it("large values - a legal value that JSON escapes past 1 MiB is created or refused up " +
    "front, never an endless TIMEOUT", async () => {
    // 200 KiB of U+0001 is valid UTF-8 under the configured maximum, but JSON writes each
    // character as \u0001: 1.2 MiB, over NATS' max_payload, in every Accept that carries it.
    const key = "large.escaped";
    const value = "\u0001".repeat(200 * 1024);
    let outcome: unknown;
    try {
      outcome = await client.create(key, value);
    } catch (err) {
      outcome = (err as { code?: unknown }).code;
    }
    expect(crashed(), "nodes that stopped").toEqual([]);
    if (typeof outcome === "string") expect(outcome).toBe("VALUE_TOO_LARGE");
    else expect(outcome).toEqual({ key, value, created: true });
  });

  it("large values - the cluster serves again after those bursts", async () => {
    await poll("a create to go through", async () =>
      (await client.create("large.after", "small")).created ? true : undefined,
    { timeoutMs: 20_000, intervalMs: 200 });
  });
});
