/**
 * Issue 13 part 4: `acceptor rejoin` while the old process of that acceptor is only paused
 * (SIGSTOP: a long GC, a VM freeze). The rejoin checks that nobody answers, so it proceeds;
 * before, the old process woke and answered every Paxos message waiting for it from its own
 * Redis until the registry change reached it. Now an acceptor answers only within a lease of
 * its last confirmed registration (monotonic clock, checked as each reply leaves), and the
 * rejoin moves the registration first and waits the lease plus a phase before it lists.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { checkHistory, observedValue } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import { Recorder, isOk } from "../chaos/recorder.js";
import { sleep, Workload } from "../chaos/workload.js";
import { poll, spawnWithHttp } from "./support/cluster-tools.js";
import { cleanup, startRedis } from "./support/servers.js";

const LEASE_MS = 2000;

let cluster: LocalCluster;
let client: PaxosKvClient;
let nc: NatsConnection;
let nodes: Map<string, NodeProcess>;
let httpPorts: Map<string, number>;

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "info", env: {
    PAXOSKV_REQUEST_TIMEOUT_MS: "2000", PAXOSKV_ACCEPTOR_LEASE_MS: String(LEASE_MS),
  } });
  ({ nodes, httpPorts } = await spawnWithHttp(cluster));
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 3000 });
  nc = await connect({ servers: cluster.natsUrl });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await client?.close();
  await cluster?.stopNodes();
  await cleanup();
});

/** Paxos replies (promises, accepts, nacks) the node's acceptor has sent so far. */
async function repliesSent(id: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPorts.get(id)}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith("paxoskv_acceptor_replies_total"))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

it("a paused old process wakes during the rejoin of its acceptor and answers nothing", async () => {
  const recorder = new Recorder();
  const workload = new Workload({ seed: 4, clients: [client], recorder, processes: 4,
    thinkMs: 5 });
  workload.start();
  await sleep(1000);

  // A's machine is replaced: a new process for acceptor A with a new, empty Redis. It is
  // refused (lost-state) and waits for the operator's rejoin.
  const fresh = await startRedis();
  const replacement = await cluster.spawnNode("A", "acceptor",
    { PAXOSKV_REDIS_URL: fresh.url });
  await poll("the replacement refusing", async () =>
    /lost-state/.test(replacement.output()) ? true : undefined);

  // The old A pauses; the operator rejoins A (nobody answers as A, so the rejoin proceeds).
  // The load pauses for the moment A's reply count is read, then goes on through the rejoin.
  const old = nodes.get("A") as NodeProcess;
  await workload.stop();
  const before = await repliesSent("A");
  await old.kill("SIGSTOP");
  const workload2 = new Workload({ seed: 5, clients: [client], recorder, processes: 4,
    thinkMs: 5 });
  workload2.start();
  const pausedAt = Date.now();
  // Both processes are in A's queue group, so a request may reach the paused one (answered
  // late with "is voting", ignored): the operator asks until the replacement has started.
  const since = replacement.output().length;
  const replacementLog = () => replacement.output().slice(since);
  const replies: Promise<unknown>[] = [];
  await poll("the replacement's rejoin started", async () => {
    if (/rejoin waits/.test(replacementLog())) return true;
    replies.push(nc.request(paxosRejoinSubject(cluster.prefix, "A"), "", { timeout: 30_000 })
      .then((m) => m.json<Record<string, unknown>>(), () => null));
    return undefined;
  }, { intervalMs: 300 });
  // The old A wakes after its lease ran out, while the rejoin still waits (lease + a phase).
  await sleep(LEASE_MS + 500 - (Date.now() - pausedAt));
  await old.kill("SIGCONT");
  await poll("A rejoined", async () =>
    /"msg":"acceptor A rejoined"/.test(replacementLog()) ? true : undefined, { timeoutMs: 30_000 });
  const answers = (await Promise.all(replies)).filter((r) => r !== null);
  expect(answers.some((r) => (r as { ok?: boolean }).ok === true), JSON.stringify(answers))
    .toBe(true);
  await sleep(2000);
  // Every message that waited for it, and every one since: not one reply.
  expect(await repliesSent("A")).toBe(before);
  const votingz = await fetch(`http://127.0.0.1:${httpPorts.get("A")}/votingz`);
  expect(votingz.status).toBe(503);
  expect((await votingz.json() as { checks: Record<string, unknown> }).checks["acceptorVoting"])
    .toBe(false);

  await sleep(1000);
  await workload2.stop();
  recorder.phase = "final";
  const acked = recorder.ops.filter((op) => op.kind === "create" && isOk(op));
  expect(acked.length).toBeGreaterThan(20);
  for (const op of acked) {
    let read = await recorder.read(client, "final", op.key, false);
    for (let i = 0; !isOk(read) && i < 5; i++) read = await recorder.read(client, "final", op.key, false);
    expect(read.outcome, op.key).toEqual({ type: "value", value: observedValue(op) });
  }
  expect(checkHistory(recorder.ops, { durabilityPhases: ["final"] }).anomalies).toEqual([]);
  await replacement.kill("SIGKILL");
}, 120_000);
