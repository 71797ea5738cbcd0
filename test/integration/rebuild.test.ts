/**
 * Anti-entropy on the real stack: a value a majority of acceptors accepted that the chosen
 * stream never carried (as when JetStream loses a message; chaos `--faults bridge-nats` saw a
 * stream leader with one message fewer than its followers) reaches a learner's replica only
 * through a rebuild from the acceptors: on request (`paxoskv replica rebuild`) or every
 * PAXOSKV_REBUILD_INTERVAL_S. L is the only learner, so every `replica-get` is L's, and a
 * replica-get never reads the acceptors.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { paxosRebuildSubject } from "../../src/protocol/subjects.js";
import { AcceptorRedis, poll, tearDown } from "./support/cluster-tools.js";

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn" });
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, "proposer,acceptor")));
  await cluster.spawnNode("L", "learner", { PAXOSKV_REBUILD_INTERVAL_S: "2" });
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
  redis = new AcceptorRedis(cluster);
});

afterAll(() => tearDown(cluster, redis, client));

/** A value accepted by A and B at one ballot, never announced, off the repair's work list. */
async function unannounced(key: string, value: string): Promise<void> {
  const round = Date.now();
  for (const id of ["A", "B"]) await redis.writeAccepted(id, key, round, "A", value);
}

it("rebuild - every PAXOSKV_REBUILD_INTERVAL_S, a learner learns chosen values the stream " +
  "never carried", async () => {
  const key = "rebuild.periodic";
  await unannounced(key, "lost-on-the-stream");
  expect(await client.get(key, { replica: true })).toEqual({ key, found: false });
  // Within a few passes (every 2 s), with no request and no read of the key.
  expect(await poll(`${key} in L's replica`, async () => {
    const reply = await client.get(key, { replica: true });
    return reply.found ? reply : undefined;
  }, { timeoutMs: 20_000, intervalMs: 200 })).toEqual({ key, found: true, value: "lost-on-the-stream" });
});

it("rebuild - on request, the learner answers with what it listed and learned", async () => {
  const key = "rebuild.requested";
  await unannounced(key, "requested");
  // The periodic pass may take it first; either way the report counts every key it listed.
  const reply = await client.nc.request(paxosRebuildSubject(cluster.prefix), "",
    { timeout: 20_000 });
  const report = reply.json<Record<string, unknown>>();
  expect(report).toMatchObject({ ok: true, node: "L" });
  expect(report["acceptorsListed"]).toEqual(expect.arrayContaining(["A", "B"]));
  expect(report["keysListed"]).toBeGreaterThanOrEqual(2);
  expect(report["failed"]).toBe(0);
  expect(await client.get(key, { replica: true })).toEqual({ key, found: true, value: "requested" });
});
