/**
 * Design gaps the reliability matrix exposes (anchors-reliability.md rows A9 and B4). Each
 * test pins today's unsafe behaviour exactly (so a broken set-up cannot pass for the gap),
 * with the behaviour the system should have written next to it: when the product closes a
 * gap, its test fails and is flipped to the safe assertion. README "Reliability" lists them.
 *
 * Both come down to an acceptor's identity not being tied to its durable state: nothing stops
 * an acceptor from answering with an empty Redis (wiped disk, wrong URL, a second process
 * configured with the same ID), and an empty acceptor in a majority lets a proposer choose a
 * second value for a key that already has one.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NatsPaxosTransport } from "../../src/adapters/nats/paxos-transport.js";
import { PaxosKvClient } from "../../src/client/client.js";
import type { AcceptorToProposer } from "../../src/core/messages.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { createLogger } from "../../src/node/logger.js";
import { ProposerDriver } from "../../src/node/proposer-driver.js";
import { poll } from "./support/cluster-tools.js";
import { cleanup, startRedis, type ServerHandle } from "./support/servers.js";

let cluster: LocalCluster;
const nodes = new Map<string, NodeProcess>();
const connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn",
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "2000" } });
  for (const id of ["A", "B", "C"]) nodes.set(id, await cluster.spawnNode(id));
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stopNodes();
  await cleanup();
});

const node = (id: string) => nodes.get(id) as NodeProcess;

/** Runs one Basic Paxos proposal for `key` from a proposer of our own (ID "Q"). */
async function propose(key: string, value: string) {
  const nc = await connect({ servers: cluster.natsUrl });
  connections.push(nc);
  let driver: ProposerDriver | null = null;
  const transport = new NatsPaxosTransport(nc, cluster.prefix, "Q",
    (reply) => { if (reply.type !== "read-reply") driver?.deliver(reply as AcceptorToProposer); },
    () => undefined);
  driver = new ProposerDriver({
    nodeId: "Q", acceptors: cluster.acceptors, phaseTimeoutTicks: 500, backoffBaseTicks: 5,
    backoffMaxTicks: 100, deadlineTicks: 3000, roundCountMax: 100,
  }, (m) => transport.send(m), createLogger("Q", "silent"));
  transport.start();
  return driver.propose(key, value);
}

it("B4: an acceptor whose disk was wiped refuses to vote, so no second value is chosen",
  async () => {
    const client = new PaxosKvClient(await connect({ servers: cluster.natsUrl }), { timeoutMs: 5000 });
    connections.push(client.nc);
    // X = 1 is chosen by A and B while C is down (the announcement names A and B).
    await node("C").kill("SIGKILL");
    expect(await client.create("gap.amnesia", "1")).toMatchObject({ value: "1", created: true });
    await poll("X announced", async () => (await client.get("gap.amnesia", { replica: true }))
      .found ? true : undefined);
    // A loses its disk: Redis killed, its AOF deleted, restarted empty; node A restarted.
    await node("A").kill("SIGKILL");
    const redisA = cluster.redis.get("A") as ServerHandle;
    await redisA.kill("SIGKILL");
    rmSync(join(redisA.dir, "appendonlydir"), { recursive: true, force: true });
    await redisA.restart();
    await node("A").start();
    expect(node("A").output()).toContain("lost its state");
    // B goes down, C comes back: {A, C} would be a majority that never saw X, but A abstains.
    await node("C").start();
    await node("B").kill("SIGKILL");
    const outcome = await propose("gap.amnesia", "2");
    expect(outcome.kind === "chosen" ? outcome.value : outcome.kind).not.toBe("2");
    // With B back, X is still 1.
    await node("B").start();
    expect(await client.get("gap.amnesia")).toMatchObject({ found: true, value: "1" });
  }, 60_000);

it("known gap A9 (open): a second process claiming acceptor A with another (empty) Redis starts",
  async () => {
    for (const id of ["A", "B", "C"]) if (!node(id).running) await node(id).start();
    const other: ServerHandle = await startRedis();
    // Two members in the acceptor-A queue group, answering from different states, would
    // each vote as "A": a majority could count A's vote twice, once from each state.
    // Should be: refused at start (an instance lock, or the acceptor's identity in its Redis).
    const zombie = await cluster.spawnNode("A", "acceptor", { PAXOSKV_REDIS_URL: other.url });
    expect(zombie.running).toBe(true);
    await zombie.kill("SIGKILL");
  }, 60_000);
