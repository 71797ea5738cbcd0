/**
 * A node's graceful stop (SIGTERM) on the real stack, as `startNode` orders it: the client
 * endpoints stop taking requests first, a create already running finishes and is answered, and
 * the value it chose reaches the node's own replica before the replica closes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqliteReplicaStore } from "../../src/adapters/sqlite/replica-store.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { tearDown } from "./support/cluster-tools.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
let proposer: NodeProcess;
let others: NodeProcess[];

beforeAll(async () => {
  cluster = await startLocalCluster({ directReads: false });
  // A is the only proposer (and a learner): every create goes to it.
  proposer = await cluster.spawnNode("A", "proposer,acceptor,learner");
  others = await Promise.all(["B", "C"].map((id) => cluster.spawnNode(id, "acceptor")));
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 20_000 });
});

afterAll(() => tearDown(cluster, client));

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("node stop", () => {
  it("node stop - a create running at SIGTERM is answered, and its value is in the node's " +
    "replica on disk after the node exited", async () => {
    expect(await client.create("stop.warm", "w")).toEqual({ key: "stop.warm", value: "w",
      created: true });
    // With B and C paused, no majority answers: the create stays in A's proposer.
    await Promise.all(others.map((node) => node.kill("SIGSTOP")));
    const created = client.create("stop.k", "running at stop");
    await pause(300);
    const stopped = proposer.stop();
    await pause(500);
    expect(proposer.running).toBe(true); // waiting for the create in flight
    await Promise.all(others.map((node) => node.kill("SIGCONT")));
    expect(await created).toEqual({ key: "stop.k", value: "running at stop", created: true });
    await stopped;
    expect(proposer.output()).toMatch(/"msg":"node stopped"/);

    const replica = SqliteReplicaStore.open(proposer.env.PAXOSKV_DATA_DIR ?? "");
    try {
      expect(replica.get("stop.warm")?.value).toBe("w");
      expect(replica.get("stop.k")?.value).toBe("running at stop");
    } finally {
      replica.close();
    }
  });
});
