/**
 * Logs for people and machines, from real nodes (issue 17, item 9): every line is JSON with a
 * level name and an ISO time; an expected condition (an acceptor's Redis down) is a warning
 * without a stack, logged once when it starts (again only every 30 s, saying for how long)
 * and once, at info, when it ends, with its duration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { poll, tearDown } from "./support/cluster-tools.js";

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

let cluster: LocalCluster;
let client: PaxosKvClient;
let nodes: NodeProcess[];

beforeAll(async () => {
  cluster = await startLocalCluster();
  nodes = await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 10_000 });
});

afterAll(() => tearDown(cluster, client));

/** Every line a node printed, parsed. */
function lines(node: NodeProcess): Record<string, unknown>[] {
  return node.output().split("\n").filter((l) => l.trim() !== "").map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`node ${node.id} printed a line that is not JSON: ${l}`);
    }
  });
}

const messages = (node: NodeProcess, pattern: RegExp) =>
  lines(node).filter((l) => pattern.test(String(l.msg)));

describe("logs - an acceptor's Redis down for a few seconds", () => {
  it("logs - one warning per node when it starts, no stack, one info line with the duration " +
    "when it ends; level names and ISO times throughout", async () => {
    const redisB = cluster.redis.get("B");
    if (redisB === undefined) throw new Error("no Redis for B");
    await redisB.kill("SIGKILL");
    // Creates and get misses while it is down: quorum reads on every node try B and fail.
    for (let i = 0; i < 20; i++) {
      await client.create(`logs.down.${i}`, "v");
      await client.get(`logs.missing.${i}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await redisB.restart();
    for (const node of nodes) {
      await poll(`node ${node.id} to say B's Redis answers again`, async () =>
        messages(node, /^acceptor B's Redis answers quorum reads again after \d+ s$/).length > 0
          || undefined, { timeoutMs: 20_000, intervalMs: 200 });
    }
    await poll("B's acceptor to say its Redis is back", async () =>
      messages(nodes[1] as NodeProcess, /^acceptor Redis reachable again after/).length > 0 ||
        undefined, { timeoutMs: 20_000, intervalMs: 200 });

    for (const node of nodes) {
      const all = lines(node);
      for (const line of all) {
        expect(LEVELS, JSON.stringify(line)).toContain(line.level);
        expect(String(line.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        expect(line.node).toBe(node.id);
        if (line.level !== "error" && line.level !== "fatal") {
          expect(JSON.stringify(line), "a stack below error").not.toMatch(/"stack"|\\n {4}at /);
        }
      }
      // Under 30 s of outage: the first failure only, with its start, not one line per retry.
      const down = messages(node, /^acceptor B's Redis is unreachable/);
      expect(down, node.id).toHaveLength(1);
      expect(down[0]).toMatchObject({ level: "warn", acceptor: "B", code: "UNAVAILABLE",
        forMs: 0, since: expect.any(String), err: { message: expect.any(String) } });
      const back = messages(node, /^acceptor B's Redis answers quorum reads again/);
      expect(back).toHaveLength(1);
      expect(back[0]).toMatchObject({ level: "info", acceptor: "B" });
      expect(back[0]?.forMs).toBeGreaterThanOrEqual(2000);
    }
    const acceptorDown = messages(nodes[1] as NodeProcess, /^acceptor Redis unreachable/);
    expect(acceptorDown).toHaveLength(1);
    expect(acceptorDown[0]).toMatchObject({ level: "warn", role: "acceptor", node: "B" });
  });
});
