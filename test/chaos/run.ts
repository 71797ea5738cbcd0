/**
 * `npm run chaos -- --time 60 --seed 1`: a fault-injection run against a real cluster of
 * child processes (see harness.ts), checked by the write-once checker (src/check).
 *
 *   1. start: 3 NATS (JetStream R3), 3 Redis (AOF always), nodes A, B, C and learner D;
 *   2. for --time seconds: concurrent clients (workload.ts) while the seeded nemesis
 *      (nemesis.ts) kills, pauses and restarts nodes, Redis and NATS servers and crashes
 *      proposers between phases; acceptor hashes are sampled every 2 s;
 *   3. heal, wait until a create succeeds, read every key linearizably ("final"), wait until
 *      every learner holds what the stream holds and the stream what the reads returned, then
 *      replica-read every key;
 *   4. kill -9 everything, restart everything, read every key again ("restart");
 *   5. check: R1–R7 over the history, R8 over the acceptor snapshots, plus the runner's own
 *      checks (no create succeeds without a quorum, no process died unasked, no alarms in
 *      the logs, recovery after each fault). Exit 1 on any anomaly, with the history written
 *      to the run dir.
 *
 * Flags: --time S (default 60), --seed N (default 1), --faults k1,k2 (default all kinds),
 * --out DIR (run dir for logs and the history), --keep (keep the run dir on success),
 * --log-level L (the nodes' LOG_LEVEL, default info), --redis-cluster (each acceptor on a
 * 3-primary Redis Cluster; Redis faults hit its first primary; `--faults ...,reshard` moves
 * slots of one acceptor's cluster while creates race; kill-redis-majority is left out).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  checkAcceptors, checkHistory, type Anomaly, type AcceptorSnapshot, type Op,
} from "../../src/check/index.js";
import type { PaxosKvClient } from "../../src/client/client.js";
import { cleanup, waitReady, type ServerHandle } from "../../src/dev/servers.js";
import { ACCEPTORS, Harness, NODE_ROLES } from "./harness.js";
import {
  CLOCK_KINDS, CLUSTER_KINDS, DEFAULT_KINDS, FAULT_KINDS, LIBFAKETIME, Nemesis, PARTITION_KINDS,
  SINGLE_REDIS_KINDS, type FaultKind,
} from "./nemesis.js";
import { partitionsAvailable } from "./partition.js";
import { isOk, Recorder } from "./recorder.js";
import { formatReport } from "./report.js";
import { sleep, Workload } from "./workload.js";

/** Runner-level anomalies (not from the history checker). */
export interface RunAnomaly {
  readonly rule: string;
  readonly key: string;
  readonly message: string;
}

const { values } = parseArgs({
  options: {
    time: { type: "string", default: "60" },
    seed: { type: "string", default: "1" },
    faults: { type: "string" },
    out: { type: "string" },
    keep: { type: "boolean", default: false },
    "log-level": { type: "string", default: "info" },
    "redis-cluster": { type: "boolean", default: false },
  },
});
const redisCluster = values["redis-cluster"] === true;

const seed = Number(values.seed);
const seconds = Number(values.time);
const requested = values.faults === undefined ? DEFAULT_KINDS :
  values.faults.split(",").map((k) => k.trim()) as FaultKind[];
const canPartition = partitionsAvailable();
const kinds = requested.filter((k) => (canPartition || !PARTITION_KINDS.includes(k)) &&
  (LIBFAKETIME !== null || !CLOCK_KINDS.includes(k)) &&
  (redisCluster ? !SINGLE_REDIS_KINDS.includes(k) : !CLUSTER_KINDS.includes(k)));
if (!Number.isInteger(seed) || seed < 0 || !(seconds > 0) || kinds.length === 0 ||
  requested.some((k) => !FAULT_KINDS.includes(k))) {
  console.error(`usage: npm run chaos -- --time SECONDS --seed N [--faults ${FAULT_KINDS.join(",")}]` +
    " [--out DIR] [--keep]");
  process.exit(2);
}

const log = (text: string) => process.stderr.write(`chaos: ${text}\n`);

async function main(): Promise<number> {
  const runDir = values.out ?? mkdtempSync(join(tmpdir(), `paxoskv-chaos-s${seed}-`));
  mkdirSync(runDir, { recursive: true });
  const recorder = new Recorder();
  const anomalies: RunAnomaly[] = [];
  const samples: AcceptorSnapshot[] = [];
  const startedAt = Date.now();
  log(`seed ${seed}, ${seconds} s of faults, run dir ${runDir}`);
  if (kinds.length < requested.length) {
    log(`no iptables (needs root) or libfaketime (Debian faketime) here, or faults for the ` +
      `other Redis layout (--redis-cluster): skipping ` +
      requested.filter((k) => !kinds.includes(k)).join(", "));
  }
  const harness = await Harness.start(runDir, () => recorder.now(), values["log-level"],
    redisCluster);
  // Interrupted: the servers' exit handler kills the servers; no node may be restarted after.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => harness.stopSupervising());
  }
  let failed = true;
  try {
    const clients = await Promise.all([0, 1, 2, 3].map((i) => harness.client(`chaos-w${i}`)));
    const probe = await harness.client("chaos-probe");
    const workload = new Workload({ seed, clients, recorder });
    const nemesis = new Nemesis(harness, recorder, probe, seed, kinds);
    log(`cluster up in ${Date.now() - startedAt} ms; workload and nemesis start`);

    // 2. Faults under load.
    harness.supervise();
    let sampling = true;
    const ncStream = await harness.connect("chaos-stream");
    const streamSamples: { at: number; messages: number; lastSeq: number }[] = [];
    const sampler = (async () => {
      while (sampling) {
        const keys = workload.hotKeys();
        for (const id of ACCEPTORS) {
          const snap = await harness.sampleAcceptor(id, keys);
          if (snap !== null) samples.push(snap);
        }
        const state = await harness.streamState(ncStream);
        if (state !== null) streamSamples.push({ at: recorder.now(), ...state });
        await sleep(2000);
      }
    })();
    const progress = setInterval(() => log(`${recorder.ops.length} ops, ` +
      `${nemesis.faults.length} faults (${nemesis.faults.at(-1)?.kind ?? "none yet"})`), 10_000);
    workload.start();
    nemesis.start();
    await sleep(seconds * 1000);
    await nemesis.stop();
    await workload.stop();
    sampling = false;
    await sampler;
    clearInterval(progress);

    // 3. Heal, then the final phase.
    recorder.phase = "heal";
    await healAll(harness);
    const healedAt = recorder.now();
    const recoveredAt = await nemesis.probeUntilCreate(healedAt, 60_000);
    if (recoveredAt === null) {
      anomalies.push({ rule: "LIVENESS", key: "-", message: "no create succeeded within 60 s of the final heal" });
    }
    log(`healed; a create succeeded ${recoveredAt === null ? "never" : `after ${Math.round(recoveredAt - healedAt)} ms`}`);
    const ncCheck = await harness.connect("chaos-check");
    recorder.phase = "final";
    const keys = [...new Set(recorder.ops.map((op) => op.key))];
    const finalValues = await readAll(recorder, clients, keys, "final", false);
    log(`final reads of ${keys.length} keys done`);
    const converged = await waitConvergence(harness, recorder, clients, ncCheck, finalValues,
      anomalies, "final");
    recorder.phase = "final-replica";
    await readAll(recorder, clients, keys, "final-replica", true);
    const before = await Promise.all(ACCEPTORS.map((id) => harness.snapshotAcceptor(id)));

    // 4. Everything killed and restarted.
    log("restarting everything (kill -9 of every node, Redis and NATS server)");
    recorder.phase = "restart";
    await restartEverything(harness);
    const restartRecovered = await nemesis.probeUntilCreate(recorder.now(), 60_000);
    if (restartRecovered === null) {
      anomalies.push({ rule: "LIVENESS", key: "-", message: "no create succeeded within 60 s of the full restart" });
    }
    const allKeys = [...new Set(recorder.ops.map((op) => op.key))];
    await readAll(recorder, clients, allKeys, "restart", false);
    await waitConvergence(harness, recorder, clients, ncCheck, finalValues, anomalies, "restart");
    const after = await Promise.all(ACCEPTORS.map((id) => harness.snapshotAcceptor(id)));
    harness.stopSupervising();

    // 5. Checks.
    for (const death of harness.unexpectedDeaths) {
      anomalies.push({ rule: "P5", key: "-", message: `node ${death.node} died unasked at ` +
        `${Math.round(death.at)} ms:\n${death.output.slice(-1500)}` });
    }
    for (const failed of nemesis.rejoins.filter((r) => !r.ok)) {
      anomalies.push({ rule: "REJOIN", key: "-", message: `acceptor ${failed.acceptor}: ` +
        `${failed.detail} (within 60 s of its heal)` });
    }
    for (const alarm of harness.alarmsInLogs()) {
      anomalies.push({ rule: "LOG", key: "-", message: alarm });
    }
    // The chosen stream only grows (one message per key, discard new): a smaller count or
    // last sequence means JetStream lost messages it had stored. That is the infrastructure's
    // failure, which the design tolerates (the acceptors are the truth, the stream a fast path):
    // reported on its own line; the product's part, the stream and every learner converging
    // again, is checked above (CONVERGENCE).
    const infrastructure: string[] = [];
    for (let i = 1; i < streamSamples.length; i++) {
      const [a, b] = [streamSamples[i - 1], streamSamples[i]] as [typeof streamSamples[0], typeof streamSamples[0]];
      if (b.messages < a.messages || b.lastSeq < a.lastSeq) {
        infrastructure.push(`JetStream lost messages: the chosen stream went back ` +
          `between ${Math.round(a.at)} and ${Math.round(b.at)} ms: ${a.messages} messages ` +
          `(last seq ${a.lastSeq}) → ${b.messages} (last seq ${b.lastSeq})`);
      }
    }
    for (const window of nemesis.quorumLoss) {
      for (const op of recorder.ops) {
        if (op.kind === "create" && op.outcome.type === "created" && op.ti >= window.from &&
          op.tc !== null && op.tc <= window.to) {
          anomalies.push({ rule: "C2", key: op.key, message: `create #${op.id} succeeded while ` +
            `${window.targets} were down (${window.from}–${window.to} ms)` });
        }
      }
    }
    let history = checkHistory(recorder.ops, {
      durabilityPhases: ["final", "restart"],
      ...(converged === null ? {} : { convergedAt: converged }),
    });
    const wipes = nemesis.faults.filter((f) => f.kind === "wipe-redis")
      .map((f) => ({ acceptor: f.target.replace(/^redis-/, ""), at: f.start }));
    let r8 = checkAcceptors([...samples, ...before, ...after],
      { acceptors: ACCEPTORS, finalValues: history.values, wipes });
    const late = lateKeys(r8);
    if (late.length > 0) {
      // A minority-accepted value may be completed by announcement repair after the final
      // read found the key absent (its create's outcome was unknown); read those keys again.
      recorder.phase = "late";
      await readAll(recorder, clients, late, "late", false);
      const again = checkHistory(recorder.ops, {
        durabilityPhases: ["final", "restart"],
        ...(converged === null ? {} : { convergedAt: converged }),
      });
      r8 = checkAcceptors([...samples, ...before, ...after],
        { acceptors: ACCEPTORS, finalValues: again.values, wipes });
      history = again;
    }
    const all: (Anomaly | RunAnomaly)[] = [...history.anomalies, ...r8, ...anomalies];
    const report = formatReport({
      redisCluster,
      seed, seconds, ops: recorder.ops, faults: nemesis.faults, anomalies: all,
      wallMs: Date.now() - startedAt, failpoints: harness.failpointCrashes.length,
      samples: samples.length, infrastructure,
    });
    console.log(report);
    failed = all.length > 0;
    if (failed) {
      const file = join(runDir, "history.json");
      writeFileSync(file, JSON.stringify({
        seed, seconds, anomalies: all, infrastructure, faults: nemesis.faults,
        quorumLoss: nemesis.quorumLoss, streamSamples,
        ops: recorder.ops,
      }, null, 1));
      console.log(`FAILED: ${all.length} anomalies; history in ${file}, node logs in ${runDir}`);
    }
    return failed ? 1 : 0;
  } finally {
    await harness.close();
    await cleanup();
    if (!failed && values.keep !== true && values.out === undefined) {
      rmSync(runDir, { recursive: true, force: true });
    }
  }
}

/** Keys whose majority-accepted value the final reads did not return (see above). */
function lateKeys(r8: readonly Anomaly[]): string[] {
  return [...new Set(r8.filter((a) => /final read answered absent/.test(a.message))
    .map((a) => a.key))];
}

/** Resumes paused processes and restarts whatever is down. */
async function healAll(harness: Harness): Promise<void> {
  const servers: ServerHandle[] = [...harness.natsServers,
    ...ACCEPTORS.flatMap((id) => harness.redisServers(id))];
  await Promise.all(servers.map(async (server) => {
    await server.kill("SIGCONT");
    try {
      await waitReady(server.kind, "127.0.0.1", server.port, () => true, 2000);
    } catch {
      await server.restart();
    }
  }));
  for (const node of harness.nodes.values()) if (node.running) await node.kill("SIGCONT");
  harness.expectedDown.clear();
  await harness.startNodes();
}

async function restartEverything(harness: Harness): Promise<void> {
  harness.stopSupervising();
  await Promise.all([...harness.nodes.values()].map((node) => node.kill("SIGKILL")));
  const redis = ACCEPTORS.flatMap((id) => harness.redisServers(id));
  await Promise.all([...redis, ...harness.natsServers].map((s) => s.kill("SIGKILL")));
  await Promise.all([...redis, ...harness.natsServers].map((s) => s.restart()));
  await harness.waitJetStream();
  await harness.startNodes();
  harness.supervise();
}

/**
 * Reads every key (linearizable or replica), retrying failed reads for up to 60 s in all;
 * returns key → value (null: absent, undefined: never answered).
 */
async function readAll(
  recorder: Recorder, clients: readonly PaxosKvClient[], keys: readonly string[],
  process: string, replica: boolean,
): Promise<Map<string, string | null | undefined>> {
  const result = new Map<string, string | null | undefined>();
  const deadline = Date.now() + 60_000;
  let next = 0;
  const worker = async (w: number) => {
    const client = clients[w % clients.length] as PaxosKvClient;
    while (next < keys.length) {
      const key = keys[next++] as string;
      let answer: string | null | undefined;
      while (answer === undefined && Date.now() < deadline) {
        const op: Op = await recorder.read(client, process, key, replica);
        if (isOk(op)) answer = op.outcome.type === "value" ? op.outcome.value : null;
        else await sleep(250);
      }
      result.set(key, answer);
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
  return result;
}

/**
 * Waits (up to 30 s) until the stream holds every value the final reads returned and every
 * learner has applied the whole stream (lag 0, replica size = stream size). A learner keeps
 * the first value it learns and logs any other as a SAFETY VIOLATION (checked in the logs),
 * so equal sizes mean equal maps. Returns the time it converged, or null.
 */
async function waitConvergence(
  harness: Harness, recorder: Recorder, clients: readonly PaxosKvClient[],
  nc: Awaited<ReturnType<Harness["connect"]>>, finalValues: ReadonlyMap<string, string | null | undefined>,
  anomalies: RunAnomaly[], phase: string,
): Promise<number | null> {
  const deadline = Date.now() + 30_000;
  const reread = new Set<string>();
  let problems: string[] = [];
  for (;;) {
    problems = [];
    let stream: Map<string, string>;
    try {
      stream = await harness.streamMap(nc);
    } catch (err) {
      problems.push(`stream unreadable: ${String(err)}`);
      stream = new Map();
    }
    const stats = await harness.learnerStats(nc);
    for (const id of Object.keys(NODE_ROLES)) {
      const s = stats.find((x) => x.node === id);
      if (s === undefined) problems.push(`learner ${id}: no stats`);
      else if (s.lag > 0 || s.replicaSize !== stream.size) {
        problems.push(`learner ${id}: replica ${s.replicaSize}, lag ${s.lag}, stream ${stream.size}`);
      }
    }
    for (const [key, value] of finalValues) {
      const announced = stream.get(key);
      if (typeof value === "string" && announced === undefined) {
        problems.push(`stream lacks ${key}`);
      } else if (typeof value === "string" && announced !== value) {
        anomalies.push({ rule: "STREAM", key, message: `${phase}: the stream holds ` +
          `${JSON.stringify(announced)}, a linearizable read returned ${JSON.stringify(value)}` });
        return null;
      } else if (value === undefined) {
        problems.push(`${key}: no final read answered`);
      }
    }
    const created = new Set(recorder.ops.map((op) => op.key));
    for (const [key] of stream) {
      if (!created.has(key)) {
        anomalies.push({ rule: "STREAM", key, message: `${phase}: the stream holds a key no client created` });
      } else if (finalValues.get(key) === null && !reread.has(key)) {
        reread.add(key); // chosen after its final read (an unknown create completed late)
      }
    }
    if (problems.length === 0) break;
    if (Date.now() > deadline) {
      anomalies.push({ rule: "CONVERGENCE", key: "-", message: `${phase}: not converged 30 s ` +
        `after the reads: ${problems.slice(0, 10).join("; ")}` +
        (problems.length > 10 ? ` (+${problems.length - 10} more)` : "") +
        `; stream cluster: ${await harness.streamCluster(nc)}` });
      return null;
    }
    await sleep(1000);
  }
  const at = recorder.now();
  if (reread.size > 0) {
    recorder.phase = `${phase}-late`;
    await readAll(recorder, clients, [...reread], `${phase}-late`, false);
    recorder.phase = phase;
  }
  log(`${phase}: learners converged`);
  return at;
}

main().then((code) => process.exit(code), async (err: unknown) => {
  console.error("chaos: the run itself failed:", err);
  await cleanup();
  process.exit(3);
});
