/**
 * Direct quorum reads (PAXOSKV_ACCEPTOR_REDIS) on the real stack. Nodes A, B, C are proposers
 * and acceptors; L is a learner-only node, so every `get` is L's, and L confirms each miss by
 * reading the three acceptors' Redis itself (fenced by the incarnation registered for each
 * acceptor), not over NATS. The same reads over NATS: learner.test.ts.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { PaxosKvError } from "../../src/protocol/codes.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import {
  AcceptorRedis, majorityAccepted, poll, tearDown, timed,
} from "./support/cluster-tools.js";
import { scrape, total } from "./support/prometheus.js";
import { freePort, type ServerHandle } from "./support/servers.js";

/**
 * PAXOSKV_PHASE_TIMEOUT_MS follows: a quarter, so a quorum read waits at most 1 s (500 ms was
 * missed by two live Redis once under the full suite's load on 2 cores).
 */
const REQUEST_TIMEOUT_MS = 4000;
const READ_TIMEOUT_MS = REQUEST_TIMEOUT_MS / 4;
/** Scheduling slack on a loaded two-core machine. */
const SLACK_MS = 1500;

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
const nodes = new Map<string, NodeProcess>();
let learner: NodeProcess;
let learnerHttpPort: number;

beforeAll(async () => {
  cluster = await startLocalCluster();
  const env = { PAXOSKV_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) };
  for (const node of await Promise.all(["A", "B", "C"].map((id) =>
    cluster.spawnNode(id, "proposer,acceptor", env)))) nodes.set(node.id, node);
  learnerHttpPort = await freePort();
  learner = await cluster.spawnNode("L", "learner",
    { ...env, PAXOSKV_HTTP_PORT: String(learnerHttpPort) });
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 10_000 });
  redis = new AcceptorRedis(cluster);
});

afterAll(() => tearDown(cluster, redis, client));

const server = (id: string): ServerHandle => cluster.redis.get(id) as ServerHandle;

/** Waits until L's metrics show its quorum reads reaching `id`'s Redis (`up`) or not. */
async function learnerReaches(id: string, up: boolean): Promise<void> {
  await poll(`L's reads ${up ? "reaching" : "not reaching"} ${id}'s Redis`, async () => {
    const value = total(await scrape(learnerHttpPort), "paxoskv_quorum_read_redis_up",
      { acceptor: id });
    return value === (up ? 1 : 0) ? true : undefined;
  }, { timeoutMs: 20_000, intervalMs: 100 });
}

/**
 * Restarts the Redis of `ids` and waits until L reads them again (its client reconnects with
 * a back-off of up to a second): a test that follows needs every answer, not a majority.
 */
async function restartRedis(...ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => server(id).restart()));
  for (const id of ids) await learnerReaches(id, true);
}
let keyCount = 0;
const fresh = (name: string) => `direct.${name}.${++keyCount}`;

/** How `run` failed, and after how long; a reply instead fails the test, naming it. */
async function failure(run: () => Promise<unknown>): Promise<{ code: string; ms: number }> {
  const { ms, result } = await timed(() => run().then(
    (reply) => ({ reply }), (err: unknown) => ({ err })));
  if ("reply" in result) expect.fail(`expected an error, got ${JSON.stringify(result.reply)}`);
  expect(result.err).toBeInstanceOf(PaxosKvError);
  return { code: (result.err as PaxosKvError).code, ms };
}

/**
 * What a read answers without a Paxos round: a value that `majority` (acceptors whose Redis
 * is up) accepted and nobody announced, and an absent key.
 */
async function expectReadsWork(majority: readonly string[] = ["A", "B"]): Promise<void> {
  const key = fresh("orphan");
  const round = Date.now();
  for (const id of majority) await redis.writeAccepted(id, key, round, "A", "o");
  expect(await client.get(key)).toEqual({ key, found: true, value: "o" });
  const none = fresh("none");
  expect(await client.get(none)).toEqual({ key: none, found: false });
}

describe("direct read - answers as the NATS read does", () => {
  it("direct read - the learner reads the acceptors' Redis directly", async () => {
    // The start log may reach our pipe just after the node says it serves (over IPC).
    await poll("L's start log", async () =>
      learner.output().includes('"quorumReads":"direct"') ? true : undefined, { timeoutMs: 5000 });
  });

  it("direct read - a value a majority accepted but nobody announced is returned", async () => {
    const key = fresh("majority");
    const round = Date.now();
    await redis.writeAccepted("A", key, round, "A", "orphan-value");
    await redis.writeAccepted("B", key, round, "A", "orphan-value");
    expect(await client.get(key)).toEqual({ key, found: true, value: "orphan-value" });
    expect(await client.create(key, "late"))
      .toEqual({ key, value: "orphan-value", created: false });
  });

  it("direct read - a missing key is found:false", async () => {
    const key = fresh("missing");
    expect(await client.get(key)).toEqual({ key, found: false });
  });

  it("direct read - a value only a minority accepted is finished by read repair", async () => {
    const key = fresh("minority");
    const round = Date.now();
    await redis.writeAccepted("A", key, round, "A", "minority-value");
    // With C's Redis down, the read's majority is A and B: A shows the value undecided (with
    // C's empty answer counted it would be absent, which is as true).
    await server("C").stop();
    try {
      expect(await client.get(key)).toEqual({ key, found: true, value: "minority-value" });
    } finally {
      await restartRedis("C");
    }
    const majority = majorityAccepted(await redis.readAll(key));
    expect(majority?.value).toBe("minority-value");
    expect(Number(majority?.round)).toBeGreaterThan(round); // a Paxos round finished it
  });

  it("direct read - a fast-round value on every acceptor waits for the third answer and is " +
    "returned without a repair", async () => {
    const key = fresh("fast");
    for (const id of cluster.acceptors) await redis.writeAccepted(id, key, 0, "fast", "f");
    expect(await client.get(key)).toEqual({ key, found: true, value: "f" });
    // A repair would have moved a majority to a classic ballot.
    for (const hash of (await redis.readAll(key)).values()) {
      expect(hash).toMatchObject({ accepted_round: "0", promised_round: "0" });
    }
  });

  it("direct read - with the acceptors' processes paused, reads still answer (no NATS hop)",
    async () => {
      await Promise.all([...nodes.values()].map((n) => n.kill("SIGSTOP")));
      try {
        await expectReadsWork();
      } finally {
        await Promise.all([...nodes.values()].map((n) => n.kill("SIGCONT")));
      }
    });
});

describe("direct read - an acceptor's Redis down", () => {
  it("direct read - one Redis stopped: reads still succeed", async () => {
    await learnerReaches("C", true);
    await server("C").stop();
    try {
      await expectReadsWork();
      await learnerReaches("C", false);
    } finally {
      await restartRedis("C");
    }
  });

  it("direct read - two Redis stopped: UNAVAILABLE within the timeout, then success",
    async () => {
      await Promise.all([server("B").stop(), server("C").stop()]);
      try {
        const f = await failure(() => client.get(fresh("two-down")));
        expect(f.code).toBe("UNAVAILABLE");
        expect(f.ms).toBeLessThan(READ_TIMEOUT_MS + SLACK_MS);
      } finally {
        await restartRedis("B", "C");
      }
      await expectReadsWork();
    });

  it("direct read - two Redis hung (SIGSTOP): UNAVAILABLE at the timeout, one hung: success",
    async () => {
      await server("C").kill("SIGSTOP");
      try {
        await expectReadsWork();
        await server("B").kill("SIGSTOP");
        const f = await failure(() => client.get(fresh("two-hung")));
        expect(f.code).toBe("UNAVAILABLE");
        expect(f.ms).toBeGreaterThanOrEqual(READ_TIMEOUT_MS - 50);
        expect(f.ms).toBeLessThan(READ_TIMEOUT_MS + SLACK_MS);
      } finally {
        await Promise.all([server("B").kill("SIGCONT"), server("C").kill("SIGCONT")]);
      }
      await expectReadsWork();
    });
});

// Last: the wiped acceptors stay out unless they rejoin.
describe("direct read - a wiped Redis is not counted", () => {
  it("direct read - one Redis wiped (FLUSHALL, marker gone): reads still succeed",
    async () => {
      await wipe("C");
      await expectReadsWork(["A", "B"]);
    });

  it("direct read - once the wiped acceptor rejoined, its new incarnation counts (the " +
    "registry watch)", async () => {
    // C's node stops voting at its next Paxos message; only then may it rejoin.
    await client.create(fresh("wake-c"), "x");
    const report = await poll("acceptor C rejoined", async () => {
      const reply = (await client.nc.request(paxosRejoinSubject(cluster.prefix, "C"), "",
        { timeout: 30_000 })).json<Record<string, unknown>>();
      return reply["ok"] === true ? reply : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    expect(report).toMatchObject({ ok: true, acceptor: "C" });
    // With A's Redis down the read needs C: its answers count only under the new incarnation.
    await server("A").stop();
    try {
      await poll("reads with B and C", async () => {
        await expectReadsWork(["B", "C"]);
        return true;
      }, { timeoutMs: 10_000, intervalMs: 100 });
    } finally {
      await restartRedis("A");
    }
  });

  it("direct read - two of three wiped: UNAVAILABLE, not found:false", async () => {
    // A wiped Redis holds no hash and no marker: were its answers counted, B and C would be
    // a majority showing nothing accepted, and a chosen key would read as absent.
    const key = fresh("chosen");
    const round = Date.now();
    for (const id of ["A", "B"]) await redis.writeAccepted(id, key, round, "A", "chosen-value");
    await Promise.all([wipe("B"), wipe("C")]);
    const f = await failure(() => client.get(key));
    expect(f.code).toBe("UNAVAILABLE");
    expect((await failure(() => client.get(fresh("never")))).code).toBe("UNAVAILABLE");
  });
});

async function wipe(id: string): Promise<void> {
  const raw = new Redis(server(id).url);
  try {
    await raw.flushall();
  } finally {
    raw.disconnect();
  }
}
