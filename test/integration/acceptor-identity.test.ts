/**
 * An acceptor's votes live in one Redis: matrix rows B4 (its Redis wiped) and A9 (a second
 * process claiming its ID with another Redis). Both once let an acceptor answer from a state
 * that forgot its promises, and with it in a majority a second value was chosen for a key that
 * had one. Now the store carries an incarnation marker registered per acceptor ID (a JetStream
 * KV bucket), every Lua script checks it, and a store that is not the registered one does not
 * vote until `paxoskv acceptor rejoin` has recovered its state from the other acceptors.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { NatsPaxosTransport } from "../../src/adapters/nats/paxos-transport.js";
import { PaxosKvClient } from "../../src/client/client.js";
import type { AcceptorToProposer } from "../../src/core/messages.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import { ProposerDriver } from "../../src/node/roles/proposer-driver.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import { poll } from "./support/cluster-tools.js";
import { cleanup, startRedis, type ServerHandle } from "./support/servers.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
const nodes = new Map<string, NodeProcess>();
const connections: NatsConnection[] = [];

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn",
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "2000", PAXOSKV_ACCEPTOR_LEASE_MS: "2000" } });
  for (const id of ["A", "B", "C"]) nodes.set(id, await cluster.spawnNode(id));
  client = new PaxosKvClient(await connect({ servers: cluster.natsUrl }), { timeoutMs: 5000 });
  connections.push(client.nc);
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stopNodes();
  await cleanup();
});

const node = (id: string) => nodes.get(id) as NodeProcess;

async function up(...ids: string[]): Promise<void> {
  for (const id of ids) if (!node(id).running) await node(id).start();
}

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
  const outcome = await driver.propose(key, value);
  transport.close();
  return outcome.kind === "chosen" ? outcome.value : outcome.kind;
}

/** `paxoskv acceptor rejoin <id>`: the request the CLI sends, and the node's answer. */
async function rejoin(id: string): Promise<Record<string, unknown>> {
  const reply = await client.nc.request(paxosRejoinSubject(cluster.prefix, id), "",
    { timeout: 60_000 });
  return reply.json<Record<string, unknown>>();
}

/** A's Redis loses its data: killed, its AOF deleted, restarted empty. */
async function wipeRedis(id: string): Promise<void> {
  const redis = cluster.redis.get(id) as ServerHandle;
  await redis.kill("SIGKILL");
  rmSync(join(redis.dir, "appendonlydir"), { recursive: true, force: true });
  await redis.restart();
}

const refusedToVote = (id: string) => poll(`${id} refusing to vote`,
  async () => /does not vote|stops voting/.test(node(id).output()) ? true : undefined);

it("B4: an acceptor whose Redis was wiped does not vote until it rejoins; no second value",
  async () => {
    // X = 1 is chosen by A and B while C is down.
    await node("C").kill("SIGKILL");
    expect(await client.create("b4.x", "1")).toMatchObject({ value: "1", created: true });
    await node("A").kill("SIGKILL");
    await wipeRedis("A");
    await node("A").start();
    await refusedToVote("A");
    expect(node("A").output()).toMatch(/acceptor A is registered/);
    // {A, C} would be a majority that never saw X; A abstains, so X = 2 cannot be chosen.
    await up("C");
    await node("B").kill("SIGKILL");
    expect(await propose("b4.x", "2")).not.toBe("2");
    // A rejoin needs the keys of both others: with B down it fails and changes nothing.
    const failed = await rejoin("A");
    expect(failed).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    await up("B");
    const report = await rejoin("A");
    expect(report).toMatchObject({ ok: true, acceptor: "A", acceptorsListed: ["B", "C"] });
    expect(report["chosen"]).toBeGreaterThanOrEqual(1);
    // A votes again, with X recovered: {A, C} now answers 1.
    await node("B").kill("SIGKILL");
    expect(await propose("b4.x", "2")).toBe("1");
    await up("B");
    expect(await client.get("b4.x")).toMatchObject({ found: true, value: "1" });
    expect(await rejoin("A")).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
  }, 120_000);

it("B4: a Redis wiped under a running acceptor is refused at its next message", async () => {
  await up("A", "B", "C");
  expect(await client.create("b4.live", "1")).toMatchObject({ created: true });
  const raw = new Redis((cluster.redis.get("B") as ServerHandle).url);
  await raw.flushall(); // B's Redis forgets everything, the node keeps running
  raw.disconnect();
  // The next Paxos messages reach B's scripts, which find no marker: B stops voting.
  await client.create("b4.live.2", "1");
  await refusedToVote("B");
  await node("A").kill("SIGKILL");
  expect(await propose("b4.live", "2")).not.toBe("2"); // {B, C} is not a majority now
  await up("A");
  expect(await rejoin("B")).toMatchObject({ ok: true, acceptor: "B" });
  await node("A").kill("SIGKILL");
  expect(await propose("b4.live", "2")).toBe("1"); // B recovered the key
  await up("A");
}, 120_000);

it("A9: a second process claiming acceptor A with another Redis does not vote", async () => {
  await up("A", "B", "C");
  const other: ServerHandle = await startRedis();
  const zombie = await cluster.spawnNode("A", "acceptor", { PAXOSKV_REDIS_URL: other.url });
  await poll("the second A refusing", async () =>
    /does not vote/.test(zombie.output()) ? true : undefined);
  // It takes no Paxos messages: its Redis stays empty while creates go on.
  for (let i = 0; i < 5; i++) await client.create(`a9.${i}`, "v");
  const raw = new Redis(other.url);
  const keys = await raw.keys("*:acc:A:a9*");
  raw.disconnect();
  expect(keys).toEqual([]);
  // And it cannot rejoin while the real A answers.
  for (let i = 0; i < 4; i++) expect((await rejoin("A"))["ok"]).toBe(false);
  await zombie.kill("SIGKILL");
}, 120_000);
