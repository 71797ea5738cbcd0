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
  AcceptorRedis, connectTo, eventOnLog, majorityAccepted, mapLimit, poll, readChosenLog,
  tearDown, waitReplicaHolds
} from "./support/cluster-tools.js";
import type { ServerHandle } from "./support/servers.js";

const INITIAL_KEYS = 1000;

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
let nc: NatsConnection;
let chosenLog: ChosenLog;
let learner: NodeProcess;
let acceptorNodes: NodeProcess[];
let orphanRepairLogged = false;

/** Keys the acceptor nodes' repair announced, from their logs. */
function repairedKeys(): string[] {
  return acceptorNodes.flatMap((node) => node.output().split("\n"))
    .flatMap((l) => /"key":"([^"]*)".*"msg":"announced a chosen value found by repair"/
      .exec(l)?.[1] ?? []);
}
/** Every key chosen in this file with its value: the stream must end up with exactly these. */
const chosen = new Map<string, string>();
/** Keys for which this file put a second, forged value on the log. */
const conflicted = new Set<string>();

beforeAll(async () => {
  cluster = await startLocalCluster({ directReads: false });
  acceptorNodes = await Promise.all(["A", "B", "C"].map((id) =>
    cluster.spawnNode(id, "proposer,acceptor")));
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
    // A, B and C have no learner: each follows the log only to mark what it reads there as
    // announced (every MARK_ANNOUNCED_EVERY_MS, 500 ms), so its work list empties well before
    // a repair pass could take any key (at least 3 s old): in steady state the repair has
    // nothing to do.
    await poll("the acceptors' work lists to drop the initial keys", async () => {
      const left = await Promise.all(cluster.acceptors.map(async (id) =>
        (await redis.client(id).zrange(`${cluster.prefix}:acc:${id}:~unannounced`, 0, -1))
          .filter((k) => k.startsWith("initial."))));
      return left.every((keys) => keys.length === 0) ? true : undefined;
    }, { timeoutMs: 2500, intervalMs: 50 }); // the newest keys would wait >= 3 s for a pass
    learner = await cluster.spawnNode("L", "learner");
    // The start log may reach our pipe just after the node says it serves (over IPC).
    await poll("L's start log", async () =>
      learner.output().includes('"quorumReads":"nats"') ? true : undefined, { timeoutMs: 5000 });
    await waitReplicaHolds(client, chosen);
  });

  it("learner - killed and restarted, it resumes from its replica on disk: it reads only " +
    "the keys chosen while it was down, and serves every key", async () => {
    await learner.kill("SIGKILL");
    const logEnd = (await readChosenLog(nc, cluster.prefix)).lastSequence;
    const whileDown = entriesOf("while-down", 300);
    await createAll(whileDown);
    await learner.start();
    await waitReplicaHolds(client, chosen);
    // Not a replay: the consumer starts after the sequence the replica recorded, so the keys
    // chosen before the kill (served above) came from disk, not from the stream again.
    const attached = logLine(learner, "following the chosen stream");
    expect(attached["from"]).toBeGreaterThan(1);
    expect(attached["from"]).toBeLessThanOrEqual(logEnd + 1);
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
    await waitReplicaHolds(client, after);
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

describe("learner - the chosen log", () => {
  it("learner - duplicate announcements change nothing, and a second value for a key on the " +
    "log is never stored", async () => {
    const keys = [...chosen.keys()].slice(0, 20);
    for (const key of keys) {
      const event = await poll(`${key} on the log`, () => eventOnLog(nc, cluster.prefix, key));
      expect(event.value).toBe(chosen.get(key));
      await chosenLog.announce(event);
      await chosenLog.announce(event);
    }
    // A conflicting event does get onto the log (nothing refuses it there), but the learner
    // keeps the first value and says so.
    const [target] = keys as [string];
    await chosenLog.announce({ key: target, value: "forged", ballot: "1.Z" });
    conflicted.add(target);
    await poll("L's conflict log", async () =>
      learner.output().includes("SAFETY VIOLATION") ? true : undefined);
    expect(logLine(learner, "SAFETY VIOLATION: a second value for a chosen key; keeping the first"))
      .toMatchObject({ key: target, held: chosen.get(target), seen: "forged" });
    for (const key of keys) {
      expect(await client.get(key, { replica: true })).toEqual({ key, found: true,
        value: chosen.get(key) });
    }
  });

  it("learner - keys created from several nodes at once reach the log in batches, under one " +
    "subject per announcing node", async () => {
      const before = await readChosenLog(nc, cluster.prefix);
      const clients = await Promise.all([1, 2, 3].map(() =>
        PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 20_000 })));
      const entries = entriesOf("many-announcers", 100);
      try {
        await Promise.all(clients.flatMap((c) => [...entries].map(async ([key, value]) => {
          expect(await c.create(key, value)).toEqual({ key, value, created: true });
        })));
        for (const [key, value] of entries) chosen.set(key, value);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const log = await poll("the log to hold every chosen key", async () => {
        const now = await readChosenLog(nc, cluster.prefix);
        return [...entries.keys()].every((k) => now.events.has(k)) ? now : undefined;
      });
      for (const [key, value] of entries) {
        expect(new Set(log.events.get(key)?.map((e) => e.value))).toEqual(new Set([value]));
      }
      // No subject per key: the log's subjects are its announcers' (L's gets announce what they
      // resolve; this file's own ChosenLog is "any").
      for (const subject of Object.keys(log.subjects)) {
        expect(subject).toMatch(new RegExp(`^${cluster.prefix}\\.log\\.(A|B|C|L|any)$`));
      }
      // 300 creates racing on 100 keys: far fewer messages than events.
      const events = [...log.events.values()].reduce((n, list) => n + list.length, 0) -
        [...before.events.values()].reduce((n, list) => n + list.length, 0);
      const messages = log.messages - before.messages;
      expect(events).toBeGreaterThanOrEqual(entries.size);
      console.log(`many-announcers: ${events} events in ${messages} messages`);
      expect(messages).toBeLessThan(events / 2);
    });
});

describe("learner - a proposer killed between accept and announcement", () => {
  it("learner - a value a majority accepted but nobody announced: get returns it, then " +
    "the stream holds it", async () => {
    const key = "orphan.majority";
    const round = Date.now();
    await redis.writeAccepted("A", key, round, "A", "orphan-value");
    await redis.writeAccepted("B", key, round, "A", "orphan-value");
    expect(await eventOnLog(nc, cluster.prefix, key)).toBeUndefined();

    chosen.set(key, "orphan-value");
    expect(await client.get(key)).toEqual({ key, found: true, value: "orphan-value" });
    const event = await poll(`${key} on the log`, () => eventOnLog(nc, cluster.prefix, key));
    expectEventAtOrAbove(event, key, "orphan-value", round);
    await waitReplicaHolds(client, new Map([[key, "orphan-value"]]));
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
    expect((await poll(`${key} on the log`, () => eventOnLog(nc, cluster.prefix, key))).value)
      .toBe("minority-value");
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
    const event = await poll(`${key} announced by repair`,
      () => eventOnLog(nc, cluster.prefix, key), { timeoutMs: 25_000, intervalMs: 250 });
    chosen.set(key, "unread-value");
    expectEventAtOrAbove(event, key, "unread-value", round);
    await waitReplicaHolds(client, new Map([[key, "unread-value"]]));
    // Looked for now: a node's output keeps only its last 20,000 characters, and later
    // repairs (e.g. after the NATS restart) can push this line out of it.
    orphanRepairLogged = await poll("the orphan's repair in an acceptor node's log", async () =>
      repairedKeys().includes(key) ? true : undefined);
  });

  it("learner - in the end the log holds every chosen key with its value, and the replica " +
    "too", async () => {
    const log = await poll("the log to hold every chosen key", async () => {
      const now = await readChosenLog(nc, cluster.prefix);
      return [...chosen.keys()].every((k) => now.events.has(k)) ? now : undefined;
    });
    expect([...log.events.keys()].sort()).toEqual([...chosen.keys()].sort());
    for (const [key, value] of chosen) {
      const values = new Set(log.events.get(key)?.map((e) => e.value));
      expect(values, key).toEqual(new Set(conflicted.has(key) ? [value, "forged"] : [value]));
      // The first event of a key on the log is its chosen value.
      expect(log.events.get(key)?.[0]?.value, key).toBe(value);
    }
    await waitReplicaHolds(client, chosen);
  });

  it("learner - in steady state the acceptors' repair announces nothing: each acceptor-only " +
    "node saw every key on the log", async () => {
    // The initial keys were created on a healthy cluster long before (more than a pass of
    // the repair and its minimum age ago): none may have been taken for a lost announcement.
    // (A node's output keeps its last 20,000 characters: a cut first line is skipped.)
    expect(repairedKeys().filter((key) => key.startsWith("initial."))).toEqual([]);
    // The orphan the repair had to announce (above) shows that these lines are looked for.
    expect(orphanRepairLogged).toBe(true);
  });
});
