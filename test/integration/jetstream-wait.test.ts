/**
 * Found by `npm run chaos` (a `skew-clock` node that "did not start": `TimeoutError`): a node
 * whose JetStream did not answer at start exited. Now it waits, saying so, for up to a minute.
 * Here the NATS server on the cluster's port is, for a while, one without JetStream (every
 * JetStream request has no responders); a learner started then must wait, and serve once the
 * real server is back.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { poll, tearDown } from "./support/cluster-tools.js";
import { startNats } from "./support/servers.js";

let cluster: LocalCluster;
let client: PaxosKvClient;
const output = new Map<string, string>();

beforeAll(async () => {
  cluster = await startLocalCluster({
    logLevel: "warn",
    echo: (id, text) => output.set(id, (output.get(id) ?? "") + text),
  });
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, "proposer,acceptor")));
  // Retries: a request sent while the client or the nodes reconnect after the NATS restart
  // is lost (its outcome unknown), and repeating a create is safe.
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 5000, retries: 3 });
});

afterAll(() => tearDown(cluster, client));

it("jetstream wait - a node started while JetStream does not answer waits, then serves",
  async () => {
    await client.create("before", "1");
    await cluster.nats.kill("SIGKILL");
    const plain = await startNats({ port: cluster.nats.port, jetstream: false });
    let started = false;
    let failed: unknown = null;
    const learner = cluster.spawnNode("L", "learner").then(
      (node) => { started = true; return node; },
      (err: unknown) => { failed = err; throw err; });
    learner.catch(() => undefined);
    await poll("L to say it waits for JetStream", async () =>
      (output.get("L") ?? "").includes("waiting for JetStream") ? true : undefined,
    { timeoutMs: 15_000, intervalMs: 100 });
    // A few more attempts against the server without JetStream: L neither exits nor serves.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect({ started, failed }).toEqual({ started: false, failed: null });

    await plain.kill("SIGKILL");
    await cluster.nats.restart();
    const node = await learner;
    expect(node.running).toBe(true);
    // The learner follows the stream: it holds the key chosen before, and serves new ones.
    await client.create("after", "2");
    expect(await poll("L's replica", async () => {
      const [before, after] = await Promise.all([client.get("before", { replica: true }),
        client.get("after", { replica: true })]);
      return before.found && after.found ? [before, after] : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 })).toEqual([
      { key: "before", found: true, value: "1" }, { key: "after", found: true, value: "2" },
    ]);
  }, 120_000);
