/**
 * Learners on the real stack. Nodes A, B, C are proposers and acceptors only; L is a
 * learner-only node, so every `get` and `replica-get` is L's answer. L builds its replica from
 * the chosen stream, confirms misses with quorum reads over NATS (the path without
 * PAXOSKV_ACCEPTOR_REDIS; direct-read.test.ts reads the acceptors' Redis directly), and repairs
 * what a crashed proposer left behind.
 */
import { rmSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChosenLog } from "../../src/adapters/jetstream/chosen-log.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import {
  AcceptorRedis, chosenSubjectCounts, connectTo, majorityAccepted, mapLimit, poll, tearDown,
} from "./support/cluster-tools.js";
import type { ServerHandle } from "./support/servers.js";

const INITIAL_KEYS = 1000;

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
let nc: NatsConnection;
let chosenLog: ChosenLog;
let learner: NodeProcess;
/** Every key chosen in this file with its value: the stream must end up with exactly these. */
const chosen = new Map<string, string>();

beforeAll(async () => {
  cluster = await startLocalCluster({ directReads: false });
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, "proposer,acceptor")));
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 20_000 });
  nc = await connectTo(cluster);
  redis = new AcceptorRedis(cluster);
  chosenLog = await ChosenLog.open(nc, cluster.prefix);
});

afterAll(() => tearDown(cluster, redis, client, nc));

async function createAll(entries: ReadonlyMap<string, string>, concurrency = 100): Promise<void> {
  await mapLimit([...entries], concurrency, async ([key, value]) => {
    expect(await client.create(key, value)).toEqual({ key, value, created: true });
    chosen.set(key, value);
  });
}

function entriesOf(name: string, count: number): Map<string, string> {
  return new Map(Array.from({ length: count }, (_, i) => [`${name}.${i}`, `${name}-value-${i}`]));
}

/** Polls replica-get until it finds every key; a wrong value fails at once. */
async function waitReplicaHolds(entries: ReadonlyMap<string, string>): Promise<void> {
  let missing = [...entries.keys()];
  await poll(`the learner's replica to hold ${entries.size} keys`, async () => {
    const found = await mapLimit(missing, 100, async (key) => {
      const reply = await client.get(key, { replica: true });
      if (reply.found) expect(reply.value, key).toBe(entries.get(key));
      return reply.found;
    });
    missing = missing.filter((_, i) => !found[i]);
    return missing.length === 0 ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

/**
 * The announced event carries the orphan's value, at its ballot or, when the quorum read that
 * found it was undecided (one acceptor of the majority answering empty), at the higher ballot
 * of the read repair that finished it.
 */
function expectEventAtOrAbove(
  event: { key: string; value: string; ballot: string }, key: string, value: string,
  round: number,
): void {
  expect(event).toMatchObject({ key, value });
  expect(Number(event.ballot.split(".")[0])).toBeGreaterThanOrEqual(round);
}

/** The last pino line of `node` with message `msg`. */
function logLine(node: NodeProcess, msg: string): Record<string, unknown> {
  const lines = node.output().split("\n").filter((l) => l.includes(`"msg":"${msg}"`));
  const last = lines.at(-1);
  if (last === undefined) throw new Error(`no "${msg}" line in ${node.id}'s output`);
  return JSON.parse(last) as Record<string, unknown>;
}

const server = (id: string): ServerHandle => cluster.redis.get(id) as ServerHandle;

describe("learner - the replica", () => {
  it(`learner - started after ${INITIAL_KEYS} keys were chosen, it serves them all via ` +
    "replica-get", async () => {
    await createAll(entriesOf("initial", INITIAL_KEYS), 200);
    learner = await cluster.spawnNode("L", "learner");
    // The start log may reach our pipe just after the node says it serves (over IPC).
    await poll("L's start log", async () =>
      learner.output().includes('"quorumReads":"nats"') ? true : undefined, { timeoutMs: 5000 });
    await waitReplicaHolds(chosen);
  });

  it("learner - killed and restarted, it resumes from its replica on disk: it reads only " +
    "the keys chosen while it was down, and serves every key", async () => {
    await learner.kill("SIGKILL");
    const before = chosen.size;
    const whileDown = entriesOf("while-down", 300);
    await createAll(whileDown);
    await learner.start();
    await waitReplicaHolds(chosen);
    // Not a replay: the consumer starts after the sequence the replica recorded, so the keys
    // chosen before the kill (served above) came from disk, not from the stream again.
    const attached = logLine(learner, "following the chosen stream");
    expect(attached["from"]).toBeGreaterThan(before);
    expect(attached["pending"]).toBeLessThanOrEqual(whileDown.size);
    const caughtUp = await poll("L's catch-up log", async () =>
      learner.output().includes('"replica caught up"') ?
        logLine(learner, "replica caught up") : undefined, { timeoutMs: 5000 });
    expect(caughtUp["streamed"]).toBe(whileDown.size);
    expect(caughtUp["size"]).toBe(chosen.size);
  });
  it("learner - keeps following the stream across a NATS server restart", async () => {
    await cluster.nats.restart(); // JetStream's store is kept
    // A request sent while the client is still disconnected is lost (nats.js): poll, with a
    // short timeout per attempt.
    const impatient = new PaxosKvClient(client.nc, { timeoutMs: 2000 });
    await poll("creates after the NATS restart", async () =>
      (await impatient.create("after-nats-restart.probe", "p")).created ? true : undefined,
    { timeoutMs: 30_000, intervalMs: 250 });
    chosen.set("after-nats-restart.probe", "p");
    const after = entriesOf("after-nats-restart", 100);
    await createAll(after);
    await waitReplicaHolds(after);
  });

  it("learner - serves its replica with every acceptor's Redis down", async () => {
    const [key, value] = [...chosen][0] as [string, string];
    await Promise.all(cluster.acceptors.map((id) => server(id).stop()));
    try {
      expect(await client.get(key, { replica: true })).toEqual({ key, found: true, value });
      expect(await client.get(key)).toEqual({ key, found: true, value }); // a hit is final
      // A miss cannot be confirmed without a majority of acceptors.
      await expect(client.get("never.created")).rejects.toMatchObject({ code: "UNAVAILABLE" });
      expect(await client.get("never.created", { replica: true }))
        .toEqual({ key: "never.created", found: false });
    } finally {
      await Promise.all(cluster.acceptors.map((id) => server(id).restart()));
    }
  });
});

describe("learner - get is linearizable", () => {
  it("learner - a get right after each create returns the value", async () => {
    const entries = entriesOf("then-get", 200);
    await mapLimit([...entries], 50, async ([key, value]) => {
      expect(await client.create(key, value)).toEqual({ key, value, created: true });
      chosen.set(key, value);
      expect(await client.get(key)).toEqual({ key, found: true, value });
    });
  });

  it("learner - with its replica empty (restarted on an empty data dir), get finds every " +
    "chosen key", async () => {
      await learner.kill("SIGKILL");
      rmSync(learner.env.PAXOSKV_DATA_DIR ?? "", { recursive: true, force: true });
      const fresh = entriesOf("restart-get", 100);
      await createAll(fresh);
      await learner.start();
      // Straight away: the replica is still replaying the stream (or has not begun).
      const all = [...chosen];
      const replies = await mapLimit(all, 200, async ([key]) => client.get(key));
      expect(replies.filter((r, i) => !r.found || r.value !== all[i]?.[1])).toEqual([]);
    });

  it("learner - gets sent while the only learner is paused (SIGSTOP) all find their keys",
    async () => {
      await learner.kill("SIGSTOP");
      let gets: Promise<unknown> = Promise.resolve();
      try {
        const entries = entriesOf("paused", 200);
        await createAll(entries); // all returned before any get is sent
        gets = Promise.all([...entries].map(async ([key, value]) => {
          expect(await client.get(key)).toEqual({ key, found: true, value });
        }));
        gets.catch(() => undefined); // awaited below, after L resumes
        await client.nc.flush(); // the gets wait at L, behind (or ahead of) the stream's events
      } finally {
        await learner.kill("SIGCONT");
      }
      await gets;
    });
});

describe("learner - the chosen stream", () => {
  it("learner - duplicate announcements leave one stream message per key", async () => {
    const keys = [...chosen.keys()].slice(0, 20);
    for (const key of keys) {
      const event = await poll(`${key} on the stream`, async () =>
        (await chosenLog.lookup(key)) ?? undefined);
      expect(event.value).toBe(chosen.get(key));
      expect(await chosenLog.announce(event)).toBe("already-announced");
      expect(await chosenLog.announce(event)).toBe("already-announced");
      // Even a conflicting event cannot get in: the stream keeps the first per key.
      expect(await chosenLog.announce({ ...event, value: "forged", ballot: "1.Z" }))
        .toBe("already-announced");
      expect(await chosenLog.lookup(key)).toEqual(event);
    }
  });

  it("learner - the same keys created from several nodes at once are announced once",
    async () => {
      const clients = await Promise.all([1, 2, 3].map(() =>
        PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 20_000 })));
      try {
        const entries = entriesOf("many-announcers", 100);
        await Promise.all(clients.flatMap((c) => [...entries].map(async ([key, value]) => {
          expect(await c.create(key, value)).toEqual({ key, value, created: true });
        })));
        for (const [key, value] of entries) chosen.set(key, value);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const counts = await poll("the stream to hold every chosen key", async () => {
        const now = await chosenSubjectCounts(nc, cluster.prefix);
        return now.messages >= chosen.size ? now : undefined;
      });
      expect(counts.messages).toBe(chosen.size);
      expect(Object.keys(counts.subjects).sort()).toEqual(
        [...chosen.keys()].map((k) => `${cluster.prefix}.chosen.${k}`).sort());
      expect(Object.values(counts.subjects).every((n) => n === 1)).toBe(true);
    });
});

describe("learner - a proposer killed between accept and announcement", () => {
  it("learner - a value a majority accepted but nobody announced: get returns it, then " +
    "the stream holds it", async () => {
    const key = "orphan.majority";
    const round = Date.now();
    await redis.writeAccepted("A", key, round, "A", "orphan-value");
    await redis.writeAccepted("B", key, round, "A", "orphan-value");
    expect(await chosenLog.lookup(key)).toBeNull();

    chosen.set(key, "orphan-value");
    expect(await client.get(key)).toEqual({ key, found: true, value: "orphan-value" });
    const event = await poll(`${key} on the stream`, async () =>
      (await chosenLog.lookup(key)) ?? undefined);
    expectEventAtOrAbove(event, key, "orphan-value", round);
    await waitReplicaHolds(new Map([[key, "orphan-value"]]));
    // A create of the key now learns the orphan's value.
    expect(await client.create(key, "late"))
      .toEqual({ key, value: "orphan-value", created: false });
  });

  it("learner - a value only a minority accepted is finished by read repair", async () => {
    const key = "orphan.minority";
    const round = Date.now();
    await redis.writeAccepted("A", key, round, "A", "minority-value");
    // With C's Redis down, the read's majority must be A and B: A shows the value undecided.
    await server("C").stop();
    chosen.set(key, "minority-value");
    try {
      expect(await client.get(key)).toEqual({ key, found: true, value: "minority-value" });
    } finally {
      await server("C").restart();
    }
    const hashes = await redis.readAll(key);
    const majority = majorityAccepted(hashes);
    expect(majority?.value, JSON.stringify([...hashes])).toBe("minority-value");
    // Repair runs Paxos: a Prepare above the orphan's ballot, then Accept of its value.
    expect(Number(majority?.round)).toBeGreaterThan(round);
    expect((await poll(`${key} on the stream`, async () =>
      (await chosenLog.lookup(key)) ?? undefined)).value).toBe("minority-value");
  });

  it("learner - one value at two ballots and another between them is not taken as chosen; " +
    "get settles one value everywhere", async () => {
    // A:(r, v) B:(r+2, v) C:(r+1, w) is reachable (P(r+1) got B's and C's promises before B
    // accepted r+2, then only C accepted it). v is not chosen: a later Prepare answered by
    // A and C would adopt w. So a read must finish the key with Paxos, not answer v as chosen.
    const key = "orphan.split";
    const round = Date.now();
    await redis.writeAccepted("A", key, round, "A", "v");
    await redis.writeAccepted("B", key, round + 2, "B", "v");
    await redis.writeAccepted("C", key, round + 1, "C", "w");
    const first = await client.get(key);
    expect(first.found).toBe(true);
    const value = first.found ? first.value : "";
    expect(["v", "w"]).toContain(value);
    chosen.set(key, value);
    const hashes = await redis.readAll(key);
    const majority = majorityAccepted(hashes);
    expect(majority?.value, JSON.stringify([...hashes])).toBe(value);
    expect(Number(majority?.round)).toBeGreaterThan(round + 2);
    expect(await client.get(key)).toEqual({ key, found: true, value });
    expect(await client.create(key, "z")).toEqual({ key, value, created: false });
  });

  it("learner - with no read at all, the acceptors' repair announces an orphan", async () => {
    const key = "orphan.unread";
    const round = Date.now();
    for (const id of ["B", "C"]) {
      await redis.writeAccepted(id, key, round, "B", "unread-value");
      // What the Accept script also records: the key waits on the acceptor's work list until
      // seen announced. Backdated, so the next repair pass takes it up.
      const [seconds] = await redis.client(id).time();
      await redis.client(id).zadd(`${cluster.prefix}:acc:${id}:~unannounced`,
        Number(seconds) - 60, key);
    }
    const event = await poll(`${key} announced by repair`, async () =>
      (await chosenLog.lookup(key)) ?? undefined, { timeoutMs: 25_000, intervalMs: 250 });
    chosen.set(key, "unread-value");
    expectEventAtOrAbove(event, key, "unread-value", round);
    await waitReplicaHolds(new Map([[key, "unread-value"]]));
  });

  it("learner - in the end the stream holds exactly one message per chosen key", async () => {
    const counts = await poll("the stream to hold every chosen key", async () => {
      const now = await chosenSubjectCounts(nc, cluster.prefix);
      return now.messages >= chosen.size ? now : undefined;
    });
    expect(counts.messages).toBe(chosen.size);
    expect(Object.values(counts.subjects).every((n) => n === 1)).toBe(true);
    await waitReplicaHolds(chosen);
  });
});
