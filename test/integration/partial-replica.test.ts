/**
 * Partial replicas (PAXOSKV_REPLICA_KEYS) on the real stack. P reads the whole chosen log
 * and stores and serves only `orders.>`; F is a full learner; A, B, C are proposers and acceptors only. A get or
 * replica-get of another key never reaches P (its endpoints listen on `paxoskv.get.orders.>`
 * in the shared queue group), so it is F's answer, or no responder, never P's found:false.
 */
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { REPLICA_FILE } from "../../src/adapters/sqlite/replica-store.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { mapLimit, tearDown, waitReplicaHolds } from "./support/cluster-tools.js";

const COUNT = 150;
const orders = new Map(Array.from({ length: COUNT }, (_, i) => [`orders.${i}`, `o-${i}`]));
const users = new Map(Array.from({ length: COUNT }, (_, i) => [`users.${i}`, `u-${i}`]));

let cluster: LocalCluster;
let client: PaxosKvClient;
let partial: NodeProcess;

beforeAll(async () => {
  cluster = await startLocalCluster();
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id, "proposer,acceptor")));
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 10_000 });
  await mapLimit([...orders, ...users], 100, async ([key, value]) => {
    expect(await client.create(key, value)).toEqual({ key, value, created: true });
  });
  partial = await cluster.spawnNode("P", "learner", { PAXOSKV_REPLICA_KEYS: "orders.>" });
});

afterAll(() => tearDown(cluster, client));

describe("partial replica", () => {
  it("partial replica - alone, it serves its keys and does not answer for others", async () => {
    await waitReplicaHolds(client, orders, 50);
    // It reads the whole log (a batch mixes keys) and keeps its keys only (below, on disk).
    const attached = partial.output().split("\n")
      .find((l) => l.includes('"msg":"following the chosen stream"'));
    expect(JSON.parse(attached ?? "{}")).toMatchObject({ from: 1, keys: "orders.>" });
    for (const [key, value] of orders) {
      expect(await client.get(key)).toEqual({ key, found: true, value });
    }
    // Its own keys' misses are confirmed by the acceptors, as on a full replica.
    expect(await client.get("orders.never")).toEqual({ key: "orders.never", found: false });
    // Outside its filter: nobody answers (no responders), rather than a wrong found:false.
    for (const key of ["users.0", "users.1", "orders"]) {
      await expect(client.get(key)).rejects.toMatchObject({ code: "UNAVAILABLE" });
      await expect(client.get(key, { replica: true })).rejects
        .toMatchObject({ code: "UNAVAILABLE" });
    }
  });

  it("partial replica - beside a full learner, every get and replica-get of any key is " +
    "answered right", async () => {
    await cluster.spawnNode("F", "learner");
    await waitReplicaHolds(client, new Map([...orders, ...users]), 50);
    // Each request goes to one member of the queue group that listens on its subject: had P
    // listened on every key, about half of these would be its found:false.
    for (let round = 0; round < 2; round++) {
      const replies = await mapLimit([...users, ...orders], 50, async ([key]) =>
        Promise.all([client.get(key), client.get(key, { replica: true })]));
      const all = new Map([...users, ...orders]);
      const wrong = replies.flat().filter((r) => !r.found || r.value !== all.get(r.key));
      expect(wrong).toEqual([]);
    }
  });

  it("partial replica - its store on disk holds only its keys", async () => {
    await partial.stop();
    const db = new DatabaseSync(join(partial.env.PAXOSKV_DATA_DIR ?? "", REPLICA_FILE),
      { readOnly: true });
    try {
      const rows = db.prepare("SELECT key, value FROM chosen ORDER BY key").all() as
        { key: string; value: string }[];
      expect(new Map(rows.map((r) => [r.key, r.value]))).toEqual(orders);
    } finally {
      db.close();
    }
  });
});
