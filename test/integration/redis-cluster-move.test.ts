/**
 * Moving a running acceptor from its one Redis to a Redis Cluster, the way docs/operations.md
 * says: start its node on the new, empty cluster (it refuses to vote: lost-state), then
 * `paxoskv acceptor rejoin`. Nothing is lost, the other acceptors keep their one Redis, and
 * the registry entry of the moved acceptor gains per-bucket marks while keeping `mark`.
 */
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BUCKET_COUNT } from "../../src/adapters/redis/buckets.js";
import { checkHistory } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import { Recorder, isOk } from "../chaos/recorder.js";
import { connectTo, poll, tearDown } from "./support/cluster-tools.js";
import { startRedisCluster } from "./support/servers.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
let nc: NatsConnection;
const nodes = new Map<string, NodeProcess>();

beforeAll(async () => {
  // Over NATS: direct reads need one Redis per acceptor.
  cluster = await startLocalCluster({ directReads: false,
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "2000" } });
  for (const id of cluster.acceptors) nodes.set(id, await cluster.spawnNode(id));
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 3000, retries: 2 });
  nc = await connectTo(cluster);
}, 120_000);

afterAll(async () => {
  await tearDown(cluster, client, nc);
});

it("an acceptor moves from one Redis to a Redis Cluster by a rejoin; nothing is lost", async () => {
  const recorder = new Recorder();
  await Promise.all(Array.from({ length: 60 }, (_, i) =>
    recorder.create(client, "w", `before.${i}`, `before-${i}`)));

  const target = await startRedisCluster();
  await nodes.get("A")?.stop();
  const moved = await cluster.spawnNode("A", undefined, { PAXOSKV_REDIS_URL: target.url });
  await poll("A refusing on the empty cluster", async () =>
    /lost-state/.test(moved.output()) ? true : undefined);
  const reply = await nc.request(paxosRejoinSubject(cluster.prefix, "A"), "", { timeout: 60_000 });
  expect(reply.json()).toMatchObject({ ok: true, acceptor: "A" });
  await cluster.waitAcceptorsVoting();

  // With B down, A (on its cluster) and C (on its one Redis) decide and answer every key.
  await nodes.get("B")?.kill("SIGKILL");
  await Promise.all(Array.from({ length: 30 }, (_, i) =>
    recorder.create(client, "w", `after.${i}`, `after-${i}`)));
  recorder.phase = "final";
  for (const op of recorder.ops.filter((o) => o.kind === "create")) {
    expect(isOk(op), `${op.key} ${JSON.stringify(op.outcome)}`).toBe(true);
    const read = await recorder.read(client, "final", op.key, false);
    expect(read.outcome, op.key).toEqual({ type: "value", value: op.value });
  }
  expect(checkHistory(recorder.ops, { durabilityPhases: ["final"] }).anomalies).toEqual([]);

  // The registry records A's marks per bucket, and `mark` (their sum) for older readers.
  const kv = await new Kvm(nc).open(`${cluster.prefix}_acceptors`);
  const entry = await poll("A's marks recorded", async () => {
    const value = (await kv.get("A"))?.json<{ mark: number; marks?: number[] }>();
    return value?.marks !== undefined && value.mark > 0 ? value : undefined;
  });
  expect(entry.marks).toHaveLength(BUCKET_COUNT);
  expect(entry.mark).toBe(entry.marks?.reduce((a, b) => a + b, 0));
  // C stays on one Redis: its entry keeps today's shape.
  expect(Object.keys((await kv.get("C"))?.json<object>() ?? {}).sort())
    .toEqual(["incarnation", "mark"]);
}, 180_000);
