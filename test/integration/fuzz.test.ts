/**
 * Bad input (matrix rows D1–D3): thousands of random and malformed messages on every subject
 * the cluster listens on, and replays of the workload's own Prepare and Accept batches, while
 * a normal workload runs. Afterwards the workload's history
 * passes the write-once checker, no node died, the acceptors hold nothing the fuzz could have
 * written (sentinel keys byte-for-byte unchanged, no state for refused keys), and node RSS
 * stayed bounded across rounds of the same fuzz.
 *
 * Well-formed forgeries (a Prepare or Accept that passes validation) do change state: that is
 * what NATS authorization is for (docs/security.md, test/integration/authz.test.ts).
 */
import { readFileSync } from "node:fs";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { checkHistory } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { Recorder, isOk } from "../chaos/recorder.js";
import { Workload } from "../chaos/workload.js";
import { cleanup } from "./support/servers.js";

const SEED = 6;
const ROUNDS = Number(process.env["FUZZ_ROUNDS"] ?? 3);
const PREFIX = "paxoskv";

let cluster: LocalCluster;
const nodes: NodeProcess[] = [];
const connections: NatsConnection[] = [];
const redis = new Map<string, Redis>();

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn" });
  nodes.push(...await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id))));
  nodes.push(await cluster.spawnNode("D", "learner"));
  for (const [id, server] of cluster.redis) {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    redis.set(id, client);
  }
});

afterAll(async () => {
  for (const client of redis.values()) client.disconnect();
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stopNodes();
  await cleanup();
});

async function nats(): Promise<NatsConnection> {
  const nc = await connect({ servers: cluster.natsUrl.split(",") });
  connections.push(nc);
  return nc;
}

const hashKey = (acceptor: string, key: string) => `${PREFIX}:acc:${acceptor}:${key}`;

/** Every Paxos key one acceptor holds state for. */
async function acceptorKeys(acceptor: string): Promise<string[]> {
  const client = redis.get(acceptor) as Redis;
  const head = hashKey(acceptor, "");
  const names = await client.keys(`${head}*`);
  return names.map((n) => n.slice(head.length)).filter((k) => !k.startsWith("~"));
}

function rssKb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

const text = new TextEncoder();

function randomBytes(random: Random, max: number): Uint8Array {
  const bytes = new Uint8Array(randomInt(random, max + 1));
  for (let i = 0; i < bytes.length; i++) bytes[i] = randomInt(random, 256);
  return bytes;
}

/** JSON values of every type, nested a little. */
function randomJson(random: Random, depth = 0): unknown {
  const pick = randomInt(random, depth > 2 ? 7 : 9);
  switch (pick) {
    case 0: return null;
    case 1: return random.next() < 0.5;
    case 2: return [-1, 0, 1, 1.5, -0.0, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 63][randomInt(random, 10)];
    case 3: return ["", "A", "a.b", " ", "é", "\u0000", "x".repeat(300), "10", "-1", "NaN"][randomInt(random, 10)];
    case 4: return randomInt(random, 1000);
    case 5: return "\ud800"; // a lone surrogate
    case 6: return {};
    case 7: return Array.from({ length: randomInt(random, 4) }, () => randomJson(random, depth + 1));
    default: {
      const fields = ["v", "items", "type", "key", "ballot", "round", "nodeId", "value", "readId",
        "cursor", "count", "extra", "__proto__", "constructor"];
      return Object.fromEntries(Array.from({ length: randomInt(random, 5) }, () =>
        [fields[randomInt(random, fields.length)] as string, randomJson(random, depth + 1)]));
    }
  }
}

/** A ballot that breaks the wire rules in one way (never a valid one). */
function badBallot(random: Random): unknown {
  const bad: unknown[] = [
    { round: -1, nodeId: "A" }, { round: 1.5, nodeId: "A" }, { round: 2 ** 53, nodeId: "A" },
    { round: "12", nodeId: "A" }, { round: null, nodeId: "A" }, { round: 1, nodeId: "" },
    { round: 1, nodeId: "A.B" }, { round: 1, nodeId: "x".repeat(33) }, { round: 1, nodeId: "é" },
    { round: 1, nodeId: 7 }, { round: 1 }, { nodeId: "A" }, { round: 1, nodeId: "A", extra: 1 },
    "1.A", [1, "A"], null, 1e308,
  ];
  return bad[randomInt(random, bad.length)];
}

/** A Paxos message with exactly one thing wrong, so no acceptor may act on it. */
function malformedPaxos(random: Random, verb: "prepare" | "accept" | "read", key: string): unknown {
  const good = verb === "prepare" ? { type: "prepare", key, ballot: { round: 5, nodeId: "Z" } } :
    verb === "accept" ? { type: "accept", key, ballot: { round: 5, nodeId: "Z" }, value: "fz" } :
      { type: "read", key, readId: "r1" };
  const item: Record<string, unknown> = { ...good };
  switch (randomInt(random, 8)) {
    case 0: item["ballot"] = badBallot(random); if (verb === "read") item["readId"] = ""; break;
    case 1: item["key"] = ["", "a..b", "a b", "ä", "x".repeat(256), "a$b", 5, null][randomInt(random, 8)]; break;
    case 2: item["type"] = ["promise", "PREPARE", "", 1][randomInt(random, 4)]; break;
    case 3: item["extra"] = randomJson(random); break;
    case 4: if (verb === "accept") item["value"] = [null, 5, "\ud800x", { v: 1 }][randomInt(random, 4)];
      else item["readId"] = "x".repeat(65); break;
    case 5: return { v: 1, items: [] };
    case 6: return { v: 2, items: [item] };
    default: return { v: 1, items: [item, { ...item, ballot: badBallot(random), readId: "" }] };
  }
  return { v: 1, items: [item] };
}

function badKey(random: Random): string {
  const keys = ["", ".", "a..b", "a.", ".a", "a$b", "ключ", "e\u0301", "é", "a#b", "a/b", "a\\b",
    "a%b", "a@b", "a'b", 'a"b', "x".repeat(256), `${"y".repeat(100)}.${"z".repeat(160)}`, "~u"];
  return keys[randomInt(random, keys.length)] as string;
}

it("fuzz: malformed messages on every subject change nothing stored and kill no node", async () => {
  const fuzz = await nats();
  const recorder = new Recorder();
  const clientNc = await nats();
  const client = new PaxosKvClient(clientNc, { timeoutMs: 5000 });

  // Sentinels: keys chosen before the fuzz, whose acceptor hashes must not move.
  const sentinels = ["fz.sentinel.0", "fz.sentinel.1", "fz.sentinel.2"];
  for (const key of sentinels) expect((await client.create(key, `s-${key}`)).created).toBe(true);
  const sentinelState = async () => Promise.all([...redis].flatMap(([id, r]) =>
    sentinels.map(async (key) => [id, key, await r.hgetall(hashKey(id, key))])));
  const sentinelsBefore = await sentinelState();

  // The subjects nodes listen on that carry IDs: proposers' reply subjects, service IDs.
  // Also real Prepare and Accept batches of the workload, replayed later (D3: replays are
  // well-formed but old; an acceptor answers them with a nack or an idempotent repeat).
  const replySubjects = new Set<string>();
  const captured: { subject: string; data: Uint8Array }[] = [];
  const spy = fuzz.subscribe(`${PREFIX}.paxos.>`, {
    callback: (_err, msg) => {
      if (msg.reply?.startsWith(`${PREFIX}.paxos.reply.`)) replySubjects.add(msg.reply);
      if (/\.(prepare|accept)$/.test(msg.subject) && captured.length < 60) {
        captured.push({ subject: msg.subject, data: Uint8Array.from(msg.data) });
      }
    },
  });
  const serviceIds = new Set<string>();
  const pingInbox = createInbox();
  const pings = fuzz.subscribe(pingInbox, {
    callback: (_err, msg) => {
      const id = (JSON.parse(msg.string()) as { id?: string }).id;
      if (id !== undefined) serviceIds.add(id);
    },
  });
  fuzz.publish("$SRV.PING.paxoskv", "", { reply: pingInbox });

  const workload = new Workload({ seed: SEED, clients: [client], recorder, processes: 4, thinkMs: 5 });
  workload.start();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  spy.unsubscribe();
  pings.unsubscribe();
  expect(replySubjects.size).toBeGreaterThan(0);
  expect(captured.length).toBeGreaterThan(10);
  expect(serviceIds.size).toBe(4);

  // Replies to requests the fuzz makes: every one must be an error (or a legal create/get).
  const random = seededRandom(SEED);
  const replies = new Map<string, number>();
  const answers = createInbox();
  fuzz.subscribe(answers, {
    callback: (_err, msg) => {
      let code = "not JSON";
      try {
        const body = JSON.parse(msg.string()) as { ok?: boolean; error?: { code?: string } };
        code = body.ok === false ? body.error?.code ?? "?" : "ok";
      } catch { /* counted as not JSON */ }
      replies.set(code, (replies.get(code) ?? 0) + 1);
    },
  });

  let sent = 0;
  const send = (subject: string, data: Uint8Array | string, reply = true) => {
    try {
      fuzz.publish(subject, data, reply ? { reply: answers } : {});
      sent++;
    } catch {
      // the client refused the subject itself (e.g. empty): nothing reached the server
    }
  };
  const body = (): Uint8Array | string => {
    switch (randomInt(random, 4)) {
      case 0: return randomBytes(random, 64);
      case 1: return JSON.stringify(randomJson(random));
      case 2: return randomBytes(random, 2048);
      default: return text.encode(JSON.stringify(randomJson(random)).slice(0, randomInt(random, 30)));
    }
  };

  const rss: number[][] = [];
  let validCreates = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < 200; i++) {
      // Public subjects: invalid keys, bodies on gets, oversized and non-UTF-8 values.
      send(`${PREFIX}.create.${badKey(random)}`, body());
      send(`${PREFIX}.get.${badKey(random)}`, body());
      send(`${PREFIX}.replica-get.${badKey(random)}`, "");
      send(`${PREFIX}.get.fz.get.${i}`, randomBytes(random, 16).length === 0 ? "x" : randomBytes(random, 16));
      send(`${PREFIX}.create.fz.big.${round}.${i}`, new Uint8Array(64 * 1024 + 1 + randomInt(random, 1000)));
      send(`${PREFIX}.create.fz.utf8.${round}.${i}`, new Uint8Array([0x61, 0xff, 0xfe, 0xc3]));
      // Legal creates with random bodies (valid UTF-8 by chance or not) in their own namespace.
      send(`${PREFIX}.create.fz.valid.${round}.${i}`, randomBytes(random, 8));
      validCreates++;
      // Internal Paxos subjects: malformed batches on sentinel and fresh keys.
      for (const verb of ["prepare", "accept", "read"] as const) {
        const key = random.next() < 0.5 ? sentinels[randomInt(random, 3)] as string : `fz.paxos.${round}.${i}`;
        send(`${PREFIX}.paxos.${verb}`, random.next() < 0.3 ? body() :
          JSON.stringify(malformedPaxos(random, verb, key)));
      }
      send(`${PREFIX}.paxos.list.${["A", "B", "C", "Z"][randomInt(random, 4)]}`,
        random.next() < 0.5 ? body() : JSON.stringify({ v: 1, cursor: randomJson(random), count: randomJson(random) }));
      // Replies to the proposers' reply subjects (forged promises that are malformed).
      for (const subject of replySubjects) {
        send(subject, random.next() < 0.5 ? body() : JSON.stringify({ v: 1, items: [
          { type: "promise", key: sentinels[0], from: "A", ballot: badBallot(random), accepted: null }] }), false);
      }
      send(`${PREFIX}.paxos.reply.${["A", "B", "C"][randomInt(random, 3)]}.closed${i}`, body(), false);
      send(`_INBOX.closed.${round}.${i}`, body(), false);
      // Service discovery and the trace control subject.
      const id = [...serviceIds][randomInt(random, serviceIds.size)] as string;
      send(["$SRV.PING", "$SRV.INFO", "$SRV.STATS", `$SRV.INFO.paxoskv.${id}`, `$SRV.STATS.paxoskv.${id}`,
        "$SRV.PING.paxoskv"][randomInt(random, 6)] as string, body());
      send(`${PREFIX}.trace-control`, body());
      const replay = captured[randomInt(random, captured.length)];
      if (replay !== undefined) send(replay.subject, replay.data, false);
      if (i % 50 === 0) {
        // A few huge payloads (under the 1 MiB max_payload) on each kind of subject.
        const huge = new Uint8Array(900 * 1024).fill(0x7b);
        send(`${PREFIX}.create.fz.huge.${round}.${i}`, huge);
        send(`${PREFIX}.get.fz.huge.${i}`, huge);
        send(`${PREFIX}.paxos.prepare`, huge);
        send(`${PREFIX}.paxos.accept`, huge);
        send(`${PREFIX}.paxos.read`, huge);
        await fuzz.flush();
      }
      if (i % 25 === 0) await fuzz.flush();
    }
    // Malformed rebuild requests: each one makes every learner rebuild, so only a few.
    for (let i = 0; i < 3; i++) send(`${PREFIX}.paxos.rebuild`, body());
    await fuzz.flush();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    rss.push(nodes.map((n) => rssKb(n.pid)));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await workload.stop();

  // Nothing died, nothing alarming in the logs.
  for (const node of nodes) {
    expect(node.running, `node ${node.id} died:\n${node.output().slice(-2000)}`).toBe(true);
    expect(node.output()).not.toMatch(/SAFETY VIOLATION|uncaught exception|"level":"fatal"/);
  }
  expect(sent).toBeGreaterThan(5000);
  // Requests were answered, with coded errors (the fuzz's legal creates answer ok).
  expect(replies.get("INVALID_KEY")).toBeGreaterThan(100);
  expect(replies.get("VALUE_TOO_LARGE")).toBeGreaterThan(100);
  expect(replies.get("BAD_REQUEST")).toBeGreaterThan(100);
  expect([...replies.keys()].every((code) => ["ok", "INVALID_KEY", "VALUE_TOO_LARGE",
    "BAD_REQUEST", "not JSON", "UNAVAILABLE", "TIMEOUT"].includes(code)), JSON.stringify([...replies])).toBe(true);

  // The workload's history is linearizable and every acknowledged create reads back.
  recorder.phase = "final";
  const keys = [...new Set(recorder.ops.map((op) => op.key))];
  for (const key of keys) {
    let op = await recorder.read(client, "final", key, false);
    for (let attempt = 0; !isOk(op) && attempt < 20; attempt++) {
      op = await recorder.read(client, "final", key, false);
    }
  }
  const verdict = checkHistory(recorder.ops, { durabilityPhases: ["final"] });
  expect(verdict.anomalies).toEqual([]);
  expect(recorder.ops.filter((op) => op.phase === "run" && op.outcome.type === "created").length)
    .toBeGreaterThan(100);

  // Stored state: sentinels unchanged; no state for any key the fuzz sent malformed or refused.
  expect(await sentinelState()).toEqual(sentinelsBefore);
  const allowed = new Set([...keys, ...sentinels]);
  for (const id of cluster.acceptors) {
    const stray = (await acceptorKeys(id)).filter((k) => !allowed.has(k) && !k.startsWith("fz.valid."));
    expect(stray, `acceptor ${id} holds state the fuzz should not have created`).toEqual([]);
  }

  // Memory: the same fuzz, round after round, does not keep growing the nodes.
  const [first, , last] = rss as [number[], number[], number[]];
  for (let i = 0; i < nodes.length; i++) {
    expect(last[i], `node ${nodes[i]?.id} RSS ${first[i]} → ${last[i]} kB`)
      .toBeLessThan((first[i] as number) * 1.5 + 50_000);
    expect(last[i]).toBeLessThan(600_000);
  }
  console.log(`fuzz: ${sent} messages (${validCreates} legal creates), replies ` +
    JSON.stringify(Object.fromEntries(replies)) + `, RSS kB by round ${JSON.stringify(rss)}`);
}, 90_000);
