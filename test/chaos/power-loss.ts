/**
 * Matrix row B3, simulated power loss, and its negative control. `kill -9` keeps the page
 * cache, so it is not a power loss. Here everything dies at once (nodes, NATS, every Redis)
 * and loses what it had not fsynced: JetStream syncs every 2 minutes by default, so a run this
 * short loses its whole JetStream store (the chosen stream and the acceptor registry), and so
 * the learners' replicas (fsynced at WAL checkpoints only), and two acceptors lose the tail of
 * their AOF. The acceptors are then the only record of what was
 * chosen, as the design says they are.
 *
 * - `everysec` (the negative control): the two AOFs are cut back to their size 1 s before
 *   the kill (the window Redis had not fsynced yet). The third acceptor was paused for the
 *   last 2 s, so the creates acknowledged in that second were on those two alone: they are
 *   lost, and the checker must say so (R3: a read after an acknowledged create finds nothing,
 *   or R1: a racing create wins with another value).
 * - `always`: every acknowledged write was fsynced before its reply, so only a command being
 *   written can be torn: each AOF gets half a command appended (Redis loads up to the last
 *   whole one). The checker must find nothing.
 *
 * `npm run chaos:power-loss -- --fsync everysec|always [--seed N] [--time S]` exits 0 when
 * the outcome is the expected one; `test/integration/power-loss.test.ts` runs both.
 */
import { appendFileSync, readdirSync, rmSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { checkHistory, type Anomaly } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { randomInt, seededRandom } from "../../src/core/random.js";
import { startLocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { cleanup, type ServerHandle } from "../../src/dev/servers.js";
import { ACCEPTORS } from "./harness.js";
import { isOk, Recorder } from "./recorder.js";
import { sleep } from "./workload.js";

export interface PowerLossOptions {
  readonly fsync: "everysec" | "always";
  readonly seed: number;
  /** Seconds of load before the power goes. */
  readonly seconds: number;
}

export interface PowerLossResult {
  readonly fsync: "everysec" | "always";
  readonly seed: number;
  readonly acknowledged: number;
  /** Acknowledged creates whose value no read found afterwards. */
  readonly lost: number;
  readonly anomalies: readonly Anomaly[];
  /** Per cut AOF: bytes before and after. */
  readonly cuts: readonly string[];
}

export async function runPowerLoss(o: PowerLossOptions): Promise<PowerLossResult> {
  const random = seededRandom(o.seed ^ 0xb3);
  const cluster = await startLocalCluster({ appendfsync: o.fsync, logLevel: "warn",
    // The nodes refuse a Redis that is not durable unless told to run on one anyway.
    env: { PAXOSKV_REQUEST_TIMEOUT_MS: "2000", PAXOSKV_REQUIRE_DURABLE: "false" } });
  const clients: PaxosKvClient[] = [];
  try {
    const nodes: NodeProcess[] = [];
    for (const id of ACCEPTORS) nodes.push(await cluster.spawnNode(id));
    for (let i = 0; i < 4; i++) {
      clients.push(new PaxosKvClient(await connect({ servers: cluster.natsUrl }),
        { timeoutMs: 3000 }));
    }
    const recorder = new Recorder();
    const victims = [...ACCEPTORS].sort(() => random.next() - 0.5).slice(0, 2);
    const laggard = ACCEPTORS.find((id) => !victims.includes(id)) as string;
    const redis = (id: string) => cluster.redis.get(id) as ServerHandle;

    // AOF sizes every 50 ms, to cut back to what was on disk a second before the kill.
    const sizes: { at: number; bytes: Map<string, number> }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        sizes.push({ at: Date.now(), bytes: new Map(victims.map((id) => [id, aofSize(redis(id))])) });
        await sleep(50);
      }
    })();

    // Fresh keys, and keys two clients race on (a lost value lets the other one win).
    let stop = false;
    const worker = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const client = clients[w] as PaxosKvClient;
        const key = n % 4 === 0 ? `pl.${o.seed}.race.${Math.floor(n / 8)}` : `pl.${o.seed}.w${w}.${n}`;
        await recorder.create(client, `w${w}`, key, `w${w}.${n}`);
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    await sleep(Math.max(0, o.seconds * 1000 - 2000));
    await redis(laggard).kill("SIGSTOP"); // the last 2 s of accepts reach only the victims
    await sleep(2000 + randomInt(random, 200));

    // The power goes: everything at once, then what was not on disk yet.
    const killedAt = Date.now();
    await Promise.all([...ACCEPTORS.map((id) => redis(id).kill("SIGKILL")),
      ...nodes.map((n) => n.kill("SIGKILL")), cluster.nats.kill("SIGKILL")]);
    rmSync(join(cluster.nats.dir, "jetstream"), { recursive: true, force: true });
    // The learners' replicas (SQLite, WAL with synchronous=NORMAL) are fsynced only at a
    // checkpoint, every ~4 MB of WAL, which a run this short never reaches: gone too. Kept,
    // they would be a record of the chosen values that a real power loss does not leave.
    for (const node of nodes) {
      rmSync(node.env.PAXOSKV_DATA_DIR ?? "", { recursive: true, force: true });
    }
    sampling = false;
    await sampler;
    const cuts: string[] = [];
    for (const id of victims) {
      const file = incrAof(redis(id));
      const before = statSync(file).size;
      if (o.fsync === "everysec") {
        const onDisk = [...sizes].reverse().find((s) => s.at <= killedAt - 1000)?.bytes.get(id) ?? 0;
        truncateSync(file, onDisk);
        cuts.push(`${id}: ${before} → ${onDisk} bytes`);
      } else {
        appendFileSync(file, "*3\r\n$4\r\nHSET\r\n$22\r\npaxoskv:acc:torn"); // half a command
        cuts.push(`${id}: ${before} → ${statSync(file).size} bytes (a torn command appended)`);
      }
    }
    stop = true;
    await Promise.all([...ACCEPTORS.map((id) => redis(id).restart()), cluster.nats.restart()]);
    await Promise.all(workers);
    for (const node of nodes) await node.start();

    // Every key read linearizably once the cluster answers again.
    recorder.phase = "after";
    const keys = [...new Set(recorder.ops.map((op) => op.key))];
    const deadline = Date.now() + 60_000;
    await Promise.all(clients.map(async (client, w) => {
      for (let i = w; i < keys.length; i += clients.length) {
        while (Date.now() < deadline && !isOk(await recorder.read(client, `r${w}`, keys[i] as string, false))) {
          await sleep(200);
        }
      }
    }));
    const history = checkHistory(recorder.ops);
    const created = recorder.ops.filter((op) => op.kind === "create" && op.outcome.type === "created");
    const after = new Map(recorder.ops.filter((op) => op.phase === "after" && isOk(op))
      .map((op) => [op.key, op.outcome.type === "value" ? op.outcome.value : null]));
    const lost = created.filter((op) => after.get(op.key) !== op.value).length;
    return { fsync: o.fsync, seed: o.seed, acknowledged: created.length, lost,
      anomalies: history.anomalies, cuts };
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await cluster.stopNodes();
    await cleanup();
  }
}

/** The AOF Redis appends to now (Redis 7: appendonlydir/<name>.<n>.incr.aof, the highest n). */
function incrAof(server: ServerHandle): string {
  const dir = join(server.dir, "appendonlydir");
  const incr = readdirSync(dir).filter((f) => f.endsWith(".incr.aof"))
    .sort((a, b) => sequenceOf(a) - sequenceOf(b));
  const last = incr.at(-1);
  if (last === undefined) throw new Error(`no incremental AOF in ${dir}`);
  return join(dir, last);
}

function sequenceOf(file: string): number {
  return Number(/\.(\d+)\.incr\.aof$/.exec(file)?.[1] ?? 0);
}

function aofSize(server: ServerHandle): number {
  try {
    return statSync(incrAof(server)).size;
  } catch {
    return 0;
  }
}

export function formatPowerLoss(r: PowerLossResult): string {
  const rules = new Map<string, number>();
  for (const a of r.anomalies) rules.set(a.rule, (rules.get(a.rule) ?? 0) + 1);
  return [
    `power loss, appendfsync ${r.fsync}, seed ${r.seed}: ${r.acknowledged} creates acknowledged, ` +
      `${r.lost} lost; AOF cuts: ${r.cuts.join("; ")}`,
    `anomalies: ${r.anomalies.length}` +
      (rules.size === 0 ? "" : ` (${[...rules].map(([k, n]) => `${k} ×${n}`).join(", ")})`),
    ...r.anomalies.slice(0, 3).map((a) => `  ${a.rule} ${a.key}: ${a.message}`),
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: {
    fsync: { type: "string", default: "everysec" }, seed: { type: "string", default: "1" },
    time: { type: "string", default: "6" },
  } });
  const fsync = values.fsync === "always" ? "always" : "everysec";
  const result = await runPowerLoss({ fsync, seed: Number(values.seed), seconds: Number(values.time) });
  console.log(formatPowerLoss(result));
  const expected = fsync === "everysec" ? result.anomalies.length > 0 : result.anomalies.length === 0;
  console.log(expected ? "as expected" : fsync === "everysec"
    ? "NOT DETECTED: the checker missed the loss" : "FAILED: anomalies with appendfsync always");
  process.exitCode = expected ? 0 : 1;
}
