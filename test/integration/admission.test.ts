/**
 * Admission control on the real stack (matrix row D5): with PAXOSKV_MAX_IN_FLIGHT=4, one
 * connection floods the nodes with creates while another creates one key at a time. The
 * flood is answered, every request, at once or in turn: created, or UNAVAILABLE "overloaded"
 * for what did not fit; a refused create certainly did not take effect; the quiet client is
 * served throughout; the same for a flood of get misses, each a quorum read. How much latency
 * a flood of creates adds is measured by `npm run chaos:flood`.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { mapLimit } from "./support/cluster-tools.js";
import { scrape, total } from "./support/prometheus.js";
import { freePort } from "./support/servers.js";
import { tearDown } from "./support/cluster-tools.js";

const NODES = ["A", "B", "C"];
const QUIET = 20;

let cluster: LocalCluster;
let flooder: NatsConnection;
let quiet: PaxosKvClient;
const ports = new Map<string, number>();

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn" });
  for (const id of NODES) ports.set(id, await freePort());
  await Promise.all(NODES.map((id) => cluster.spawnNode(id, undefined, {
    PAXOSKV_MAX_IN_FLIGHT: "4", PAXOSKV_REQUEST_TIMEOUT_MS: "8000",
    PAXOSKV_HTTP_PORT: String(ports.get(id)),
  })));
  flooder = await connect({ servers: cluster.natsUrl });
  quiet = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 15_000 });
});

afterAll(() => tearDown(cluster, quiet, flooder));

it("admission - a flood from one connection is answered in full, refusals are certain, and " +
  "another client is served throughout", async () => {
  type Answer = { ok: boolean; created?: boolean; error?: { code: string; message: string } };
  const replies: Promise<Answer>[] = [];
  const send = () => {
    const i = replies.length;
    replies.push(flooder.request(`${cluster.prefix}.create.flood.${i}`, `v${i}`,
      { timeout: 30_000 }).then((m) => m.json<Answer>()));
  };
  // The flood keeps going, 100 requests every 10 ms, until the quiet client is done.
  let quietDone = false;
  const flood = (async () => {
    while (!quietDone) {
      for (let i = 0; i < 100; i++) send();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const quietResults: boolean[] = [];
  for (let i = 0; i < QUIET; i++) {
    const result = await quiet.create(`quiet.${i}`, `q${i}`);
    quietResults.push(result.created);
  }
  quietDone = true;
  await flood;
  const answers = await Promise.all(replies);

  // The quiet client: every create done, none refused (its queue never holds more than one).
  expect(quietResults).toEqual(Array(QUIET).fill(true));
  // The flood: every request answered (no client timeout), each created or refused.
  const created = answers.filter((a) => a.ok && a.created === true).length;
  const refused = answers.filter((a) => !a.ok);
  expect(refused.map((a) => a.error?.code).filter((code) => code !== "UNAVAILABLE")).toEqual([]);
  expect(refused.every((a) => /overloaded/.test(a.error?.message ?? ""))).toBe(true);
  expect(created + refused.length).toBe(answers.length);
  expect(answers.length).toBeGreaterThanOrEqual(QUIET * 100);
  expect(refused.length).toBeGreaterThan(0);
  expect(created).toBeGreaterThan(0);

  // A refused create did not take effect: its key is absent (a quorum read confirms misses).
  const refusedKeys = answers.flatMap((a, i) => (a.ok ? [] : [`flood.${i}`]));
  // Four at a time: gets' quorum reads are admitted as creates are (4 per node here).
  const found = await mapLimit(refusedKeys, 4, async (key) => (await quiet.get(key)).found);
  expect(found.filter((f) => f)).toEqual([]);

  // The nodes counted every refusal, and nothing waits any more. At least: a flooding
  // connection that reconnects under load may send a few requests twice (the second reply
  // goes unheard), and each copy is refused and counted.
  const scrapes = await Promise.all(NODES.map((id) => scrape(ports.get(id) as number)));
  expect(scrapes.reduce((sum, s) => sum +
    total(s, "paxoskv_admission_refused_total", { op: "create" }), 0))
    .toBeGreaterThanOrEqual(refused.length);
  expect(scrapes.map((s) => total(s, "paxoskv_admission_queued"))).toEqual([0, 0, 0]);
}, 120_000);

it("admission - a flood of get misses (quorum reads) from one connection does not starve " +
  "another client's", async () => {
  type Answer = { ok: boolean; found?: boolean; error?: { code: string; message: string } };
  const before = await Promise.all(NODES.map((id) => scrape(ports.get(id) as number)));
  const replies: Promise<Answer>[] = [];
  let quietDone = false;
  const flood = (async () => {
    while (!quietDone) {
      for (let i = 0; i < 100; i++) {
        replies.push(flooder.request(`${cluster.prefix}.get.absent.flood.${replies.length}`, "",
          { timeout: 30_000 }).then((m) => m.json<Answer>()));
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const quietResults: boolean[] = [];
  for (let i = 0; i < QUIET; i++) quietResults.push((await quiet.get(`absent.quiet.${i}`)).found);
  quietDone = true;
  await flood;
  const answers = await Promise.all(replies);

  expect(quietResults).toEqual(Array(QUIET).fill(false));
  const refused = answers.filter((a) => !a.ok);
  expect(answers.filter((a) => a.ok && a.found !== false)).toEqual([]);
  expect(refused.every((a) => a.error?.code === "UNAVAILABLE" &&
    /overloaded/.test(a.error.message))).toBe(true);
  expect(refused.length).toBeGreaterThan(0);
  expect(answers.length - refused.length).toBeGreaterThan(0);
  const after = await Promise.all(NODES.map((id) => scrape(ports.get(id) as number)));
  const refusedGets = (s: typeof after) =>
    s.reduce((sum, x) => sum + total(x, "paxoskv_admission_refused_total", { op: "get" }), 0);
  expect(refusedGets(after) - refusedGets(before)).toBeGreaterThanOrEqual(refused.length);
}, 120_000);
