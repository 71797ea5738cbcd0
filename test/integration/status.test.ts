/**
 * A fenced acceptor is visible everywhere an operator looks (issue: "a fenced acceptor is
 * invisible"): after FLUSHALL on B's Redis, B stops voting; `paxoskv status` says so with B's
 * reason, every node's /metrics has `paxoskv_acceptor_voting{acceptor="B"} 0`, and B's node
 * keeps serving (/readyz 200) while its /votingz is 503. A rejoin brings all of it back.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { formatStatus, gatherStatus } from "../../src/cli/status.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import { poll, spawnWithHttp } from "./support/cluster-tools.js";
import { scrape, select, total } from "./support/prometheus.js";
import { cleanup, type ServerHandle } from "./support/servers.js";

const NODES = ["A", "B", "C"] as const;
let cluster: LocalCluster;
let client: PaxosKvClient;
let ports: Map<string, number>;

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn" });
  ({ httpPorts: ports } = await spawnWithHttp(cluster, { PAXOSKV_REQUEST_TIMEOUT_MS: "3000" }));
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
});

afterAll(async () => {
  await client?.close();
  await cluster?.stopNodes();
  await cleanup();
});

const http = (id: string, path: string) =>
  fetch(`http://127.0.0.1:${ports.get(id) ?? 0}${path}`);

/** `paxoskv_acceptor_voting{acceptor}` as each node reports it. */
async function votingSeen(acceptor: string): Promise<number[]> {
  return Promise.all(NODES.map(async (id) =>
    total(await scrape(ports.get(id) as number), "paxoskv_acceptor_voting", { acceptor })));
}

it("status: every node answers; all acceptors vote and every node hears it", async () => {
  const { nodes } = await poll("three nodes hearing three voting acceptors", async () => {
    const status = await gatherStatus(client.nc, cluster.prefix);
    return status.nodes.length === 3 && status.nodes.every((n) =>
      Object.values(n.acceptors).every((a) => a === "voting")) ? status : undefined;
  });
  expect(nodes.map((n) => n.node)).toEqual(["A", "B", "C"]);
  for (const n of nodes) {
    expect(n).toMatchObject({ ready: true, acceptor: { id: n.node, voting: true },
      acceptors: { A: "voting", B: "voting", C: "voting" } });
    expect(n.roles).toContain("acceptor");
  }
  expect(formatStatus(nodes)).toMatch(/acceptors: 3 of 3 voting/);
  expect(await votingSeen("B")).toEqual([1, 1, 1]);
  // What each node runs: paxoskv, Node.js, nats-server and its acceptor's Redis.
  const [info] = select(await scrape(ports.get("A") as number), "paxoskv_build_info");
  expect(info?.labels).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    nodejs: expect.stringMatching(/^\d+\.\d+\.\d+$/),
    nats_server: expect.stringMatching(/^\d+\.\d+\.\d+/),
    redis: expect.stringMatching(/^\d+\.\d+\.\d+/) });
}, 60_000);

it("status: a fenced acceptor shows as not voting in status, every node's metrics and its " +
  "own /votingz, while its node keeps serving", async () => {
  expect(await client.create("st.1", "v")).toMatchObject({ created: true });
  const raw = new Redis((cluster.redis.get("B") as ServerHandle).url);
  await raw.flushall();
  raw.disconnect();
  // The next Paxos message reaches B's scripts, which find no marker: B stops voting.
  await client.create("st.2", "v");
  const { nodes } = await poll("status showing B not voting", async () => {
    const status = await gatherStatus(client.nc, cluster.prefix);
    return status.nodes.length === 3 && status.nodes.every((n) => n.acceptors.B === "not-voting")
      ? status : undefined;
  });
  const b = nodes.find((n) => n.node === "B");
  expect(b?.acceptor).toMatchObject({ id: "B", voting: false });
  expect(b?.acceptor?.reason).toMatch(/wiped or replaced|lost-state|holds no state/);
  expect(nodes.every((n) => n.acceptors.A === "voting" && n.acceptors.C === "voting")).toBe(true);
  const table = formatStatus(nodes);
  expect(table).toMatch(/acceptors: 2 of 3 voting — the cluster tolerates fewer failures/);
  expect(table).toMatch(/ {2}B {2}NOT VOTING/);
  await poll("every node's metrics showing B at 0", async () =>
    (await votingSeen("B")).every((v) => v === 0) ? true : undefined);
  expect(await votingSeen("A")).toEqual([1, 1, 1]);
  // The web page's cluster view says it too: B is up (its node answers) and does not vote.
  const view = await (await http("A", "/api/cluster")).json() as
    { acceptors: { id: string; up: boolean; voting: string }[] };
  expect(view.acceptors.find((a) => a.id === "B")).toEqual({ id: "B", up: true,
    voting: "not-voting" });
  // Serving and voting are apart: B's node answers clients; its acceptor does not vote.
  expect((await http("B", "/readyz")).status).toBe(200);
  const voting = await http("B", "/votingz");
  expect(voting.status).toBe(503);
  expect(await voting.json()).toMatchObject({ voting: false, checks: { acceptorVoting: false } });
  expect((await http("A", "/votingz")).status).toBe(200);
  expect(await client.create("st.3", "v")).toMatchObject({ created: true });

  const report = await client.nc.request(paxosRejoinSubject(cluster.prefix, "B"), "",
    { timeout: 60_000 });
  expect(report.json()).toMatchObject({ ok: true, acceptor: "B" });
  await poll("B voting again everywhere", async () =>
    (await votingSeen("B")).every((v) => v === 1) ? true : undefined);
  expect((await http("B", "/votingz")).status).toBe(200);
}, 120_000);
