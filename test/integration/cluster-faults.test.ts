/**
 * Faults on the real stack: node processes killed with SIGKILL, acceptor Redis servers
 * stopped, crashes and restarts. A minority down changes nothing for clients; a majority down
 * makes creates answer UNAVAILABLE within the request timeout until it returns; a restart
 * keeps every promise and accepted value.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { PaxosKvError, type ErrorCode } from "../../src/protocol/codes.js";
import { paxosSubject } from "../../src/protocol/subjects.js";
import { encodeBatch } from "../../src/protocol/wire.js";
import {
  AcceptorRedis, connectTo, gather, majorityAccepted, poll, timed, type AcceptorHash, tearDown,
} from "./support/cluster-tools.js";
import type { ServerHandle } from "./support/servers.js";

/** The nodes give up on a create after this long (UNAVAILABLE or TIMEOUT). */
const REQUEST_TIMEOUT_MS = 2000;
/** Scheduling slack on a loaded two-core machine. */
const SLACK_MS = 1500;

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
let nc: NatsConnection;
const nodes = new Map<string, NodeProcess>();

beforeAll(async () => {
  cluster = await startLocalCluster();
  for (const node of await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id,
    undefined, { PAXOSKV_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) })))) {
    nodes.set(node.id, node);
  }
  client = await PaxosKvClient.connect(
    { servers: cluster.nats.url, timeoutMs: 3 * REQUEST_TIMEOUT_MS });
  nc = await connectTo(cluster);
  redis = new AcceptorRedis(cluster);
});

afterAll(() => tearDown(cluster, redis, client, nc));

// Every test leaves the whole cluster up, even when it fails half-way.
afterEach(async () => {
  await Promise.all([...cluster.redis.values()].map(async (server) => {
    if (!(await redisAnswers(server.url))) await server.restart();
  }));
  await Promise.all([...nodes.values()].map((n) => n.running ? undefined : n.start()));
  await clusterServes();
});

const node = (id: string): NodeProcess => nodes.get(id) as NodeProcess;
const server = (id: string): ServerHandle => cluster.redis.get(id) as ServerHandle;

let keyCount = 0;
const fresh = (name: string) => `faults.${name}.${++keyCount}`;

async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url,
    { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null,
      connectTimeout: 1000, commandTimeout: 1000 }); // a paused server must not hang this
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** Waits until a create goes through (after servers came back, nodes reconnect on their own). */
async function clusterServes(): Promise<void> {
  await poll("the cluster to serve creates again", async () => {
    const key = fresh("probe");
    return (await client.create(key, "up")).created ? true : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 });
}

async function createMany(name: string, count: number): Promise<Map<string, string>> {
  const created = new Map<string, string>();
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    const key = fresh(name);
    const value = `${name}-value-${i}`;
    expect(await client.create(key, value)).toEqual({ key, value, created: true });
    created.set(key, value);
  }));
  return created;
}

/** The error a request ends with, and how long it took; fails if it succeeds. */
async function failure(run: () => Promise<unknown>): Promise<{ code: ErrorCode; ms: number }> {
  const { ms, result } = await timed(async () => {
    try {
      return { ok: await run() };
    } catch (err) {
      return { err };
    }
  });
  if ("ok" in result) throw new Error(`expected a failure, got ${JSON.stringify(result.ok)}`);
  if (!(result.err instanceof PaxosKvError)) throw result.err;
  return { code: result.err.code, ms };
}

/** A majority of acceptors holds `value` accepted in one ballot, read from Redis directly. */
async function expectMajority(key: string, value: string): Promise<void> {
  const hashes = await redis.readAll(key);
  expect(majorityAccepted(hashes)?.value, `${key}: ${JSON.stringify([...hashes])}`).toBe(value);
}

describe("faults - a minority of acceptors down", () => {
  it("faults - creates succeed with one node process killed (SIGKILL)", async () => {
    await node("C").kill("SIGKILL");
    const created = await createMany("one-node-down", 30);
    for (const [key, value] of created) {
      expect(await client.get(key)).toEqual({ key, found: true, value });
      await expectMajority(key, value);
      expect(await redis.read("C", key)).toEqual({}); // C's acceptor never heard of it
    }
  });

  it("faults - creates succeed with one acceptor's Redis stopped while its node runs",
    async () => {
      await server("B").stop();
      expect(node("B").running).toBe(true);
      const created = await createMany("one-redis-down", 30);
      for (const [key, value] of created) {
        expect(await client.get(key)).toEqual({ key, found: true, value });
      }
      await server("B").restart();
      for (const [key, value] of created) await expectMajority(key, value);
    });
});

describe("faults - a majority of acceptors down", () => {
  it("faults - two acceptor Redis stopped: UNAVAILABLE within the timeout, then success",
    async () => {
      const before = await createMany("before-redis-majority", 3);
      const [someKey, someValue] = [...before][0] as [string, string];
      // Wait until the learners hold it: replica-get (any node) finds it several times running.
      let streak = 0;
      await poll(`${someKey} in every replica`, async () => {
        streak = (await client.get(someKey, { replica: true })).found ? streak + 1 : 0;
        return streak >= 6 ? true : undefined;
      });
      await Promise.all([server("B").stop(), server("C").stop()]);
      const keys = Array.from({ length: 5 }, () => fresh("redis-majority"));
      const failures = await Promise.all(keys.map((key) => failure(() => client.create(key, "v"))));
      for (const f of failures) {
        expect(f.code).toBe("UNAVAILABLE");
        expect(f.ms).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
      }
      // A chosen key still reads from a replica; a missing one cannot be confirmed missing.
      expect(await client.get(someKey)).toEqual({ key: someKey, found: true, value: someValue });
      expect((await failure(() => client.get(fresh("never-created")))).code).toBe("UNAVAILABLE");

      // UNAVAILABLE means no Accept left the proposer: A, still up, accepted none of them.
      for (const key of keys) {
        expect((await redis.read("A", key))["accepted_round"]).toBeUndefined();
      }

      await Promise.all([server("B").restart(), server("C").restart()]);
      for (const key of keys) {
        const result = await poll(`create ${key} after Redis returned`,
          () => client.create(key, "v"), { timeoutMs: 20_000, intervalMs: 200 });
        expect(result).toEqual({ key, value: "v", created: true });
        await expectMajority(key, "v");
      }
    });

  it("faults - two acceptor Redis hung (SIGSTOP): UNAVAILABLE within the timeout, then " +
    "success once they resume", async () => {
    await Promise.all([server("B").kill("SIGSTOP"), server("C").kill("SIGSTOP")]);
    // The creates of the test before may leave a node believing every acceptor alive: its
    // first creates then start fast, their Accept leaves, and the honest answer is TIMEOUT
    // (outcome unknown). Once a node has seen B and C silent, it runs classic rounds, which
    // know that nothing was accepted: UNAVAILABLE.
    const first = Array.from({ length: 5 }, () => fresh("redis-hung"));
    const then = Array.from({ length: 6 }, () => fresh("redis-hung"));
    let failures: { code: ErrorCode; ms: number }[];
    let later: { code: ErrorCode; ms: number }[];
    try {
      failures = await Promise.all(first.map((key) => failure(() => client.create(key, "h"))));
      later = await Promise.all(then.map((key) => failure(() => client.create(key, "h"))));
    } finally {
      await Promise.all([server("B").kill("SIGCONT"), server("C").kill("SIGCONT")]);
    }
    for (const f of failures) {
      expect(["UNAVAILABLE", "TIMEOUT"]).toContain(f.code);
      expect(f.ms).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    }
    for (const f of later) {
      expect(f.code).toBe("UNAVAILABLE");
      expect(f.ms).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    }
    const keys = [...first, ...then];
    for (const key of keys) {
      // The hung servers ran the queued Prepares on resuming: retrying still works.
      const result = await poll(`create ${key} after Redis resumed`,
        () => client.create(key, "h"), { timeoutMs: 20_000, intervalMs: 200 });
      expect(result).toEqual({ key, value: "h", created: true });
      await expectMajority(key, "h");
    }
  });

  it("faults - two node processes killed: only A proposes, UNAVAILABLE, then success",
    async () => {
      await Promise.all([node("B").kill("SIGKILL"), node("C").kill("SIGKILL")]);
      // The processes are gone, but NATS may still hold their subscriptions for a moment; a
      // request routed there is lost (the client rightly says TIMEOUT). Wait until only A serves.
      await poll("only node A left in the service", async () => {
        const nodesServing = await servingNodes();
        return nodesServing.join() === "A" ? nodesServing : undefined;
      });
      const keys = Array.from({ length: 5 }, () => fresh("node-majority"));
      const failures = await Promise.all(keys.map((key) => failure(() => client.create(key, "w"))));
      for (const f of failures) {
        expect(f.code).toBe("UNAVAILABLE");
        expect(f.ms).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
      }
      // Nothing was accepted anywhere: UNAVAILABLE means no Accept left the proposer.
      for (const key of keys) {
        const a = await redis.read("A", key);
        expect(a["accepted_round"], `${key} on A: ${JSON.stringify(a)}`).toBeUndefined();
      }

      await Promise.all([node("B").start(), node("C").start()]);
      for (const key of keys) {
        const result = await poll(`create ${key} after the nodes returned`,
          () => client.create(key, "w"), { timeoutMs: 20_000, intervalMs: 200 });
        expect(result).toEqual({ key, value: "w", created: true });
      }
    });
  it("faults - every node process down: UNAVAILABLE at once (no responders)", async () => {
    await Promise.all([...nodes.values()].map((n) => n.kill("SIGKILL")));
    await poll("no node left in the service", async () =>
      (await servingNodes()).length === 0 ? true : undefined);
    const create = await failure(() => client.create(fresh("nobody"), "v"));
    expect(create.code).toBe("UNAVAILABLE");
    expect(create.ms).toBeLessThan(SLACK_MS);
    expect((await failure(() => client.get(fresh("nobody")))).code).toBe("UNAVAILABLE");
  });
});

describe("faults - restarts keep every promise and accepted value", () => {
  /** Prepare(round.Z) straight to the acceptors: a promise with nothing accepted. */
  async function promiseOnly(key: string, round: number): Promise<void> {
    const replies = await gather(nc, paxosSubject(cluster.prefix, "prepare"),
      encodeBatch([{ type: "prepare", key, ballot: { round, nodeId: "Z" } }]), 3);
    expect(replies.map((r) => JSON.parse(r.string()).items[0].type)).toEqual(
      ["promise", "promise", "promise"]);
  }

  async function stateOf(keys: readonly string[]): Promise<Record<string, AcceptorHash>> {
    const out: Record<string, AcceptorHash> = {};
    for (const key of keys) {
      for (const [id, hash] of await redis.readAll(key)) out[`${id}/${key}`] = hash;
    }
    return out;
  }

  async function expectStillChosen(created: Map<string, string>): Promise<void> {
    for (const [key, value] of created) {
      expect(await client.get(key)).toEqual({ key, found: true, value });
      // Several attempts so that every node's proposer (queue group) is likely asked.
      for (let i = 0; i < 3; i++) {
        expect(await client.create(key, `other-${i}`)).toEqual({ key, value, created: false });
      }
    }
  }

  it("faults - node B and its Redis crash (SIGKILL) and restart with the same state",
    async () => {
      const created = await createMany("restart-b", 20);
      const promised = [fresh("promised"), fresh("promised")];
      // A minute ahead of every proposer's clock: their first Prepare is refused (nack).
      const round = Date.now() + 60_000;
      for (const key of promised) await promiseOnly(key, round);
      const keys = [...created.keys(), ...promised];
      const before = await stateOf(keys);
      for (const key of promised) {
        expect(before[`B/${key}`]).toEqual({ promised_round: String(round), promised_node: "Z" });
      }

      await node("B").kill("SIGKILL");
      await server("B").kill("SIGKILL");
      await server("B").restart();
      await node("B").start();
      expect(await stateOf(keys)).toEqual(before);

      await expectStillChosen(created);
      // A promised key is created above the promise it survived with.
      for (const key of promised) {
        expect(await client.create(key, "after")).toEqual({ key, value: "after", created: true });
        // B, just restarted, may not have its Accept yet (a majority was enough): look at the
        // majority.
        const majority = majorityAccepted(await redis.readAll(key));
        expect(majority?.value).toBe("after");
        expect(Number(majority?.round)).toBeGreaterThan(round);
      }
    });

  it("faults - every node and every Redis crash at once and restart with the same state",
    async () => {
      const created = await createMany("restart-all", 20);
      const before = await stateOf([...created.keys()]);
      await Promise.all([...nodes.values()].map((n) => n.kill("SIGKILL")));
      await Promise.all([...cluster.redis.values()].map((s) => s.kill("SIGKILL")));
      await Promise.all([...cluster.redis.values()].map((s) => s.restart()));
      await Promise.all([...nodes.values()].map((n) => n.start()));
      expect(await stateOf([...created.keys()])).toEqual(before);
      await expectStillChosen(created);
    });
});

/** The node IDs that answer the service's `$SRV.PING` now. */
async function servingNodes(): Promise<string[]> {
  const ids: string[] = [];
  try {
    const replies = await nc.requestMany("$SRV.PING.paxoskv", "", { maxWait: 300 });
    for await (const reply of replies) {
      const ping = JSON.parse(reply.string()) as { metadata?: { node?: string } };
      if (ping.metadata?.node !== undefined) ids.push(ping.metadata.node);
    }
  } catch (err) {
    // No responders: nobody serves any more.
    if (!(err instanceof Error && /no responders|503/i.test(`${err.message} ${String(err.cause)}`))) {
      throw err;
    }
  }
  return ids.sort();
}
