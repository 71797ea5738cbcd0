/**
 * The seeded nemesis: quiet, a fault (sometimes two at once), hold, heal, then probe until a
 * create succeeds again, which gives the recovery time of each fault. The seed decides the
 * schedule (kinds, targets, durations); the interleaving with client traffic is real time.
 */
import { existsSync, readdirSync, rmSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import type { Op } from "../../src/check/index.js";
import type { PaxosKvClient } from "../../src/client/client.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import { paxosRejoinSubject } from "../../src/protocol/subjects.js";
import type { NodeProcess } from "../../src/dev/cluster.js";
import type { ServerHandle } from "../../src/dev/servers.js";
import { ACCEPTORS, type Harness } from "./harness.js";
import { cutRoutes, partition } from "./partition.js";
import { isOk, type Recorder } from "./recorder.js";
import { sleep } from "./workload.js";

export const FAULT_KINDS = [
  "kill-node", "pause-node", "kill-redis", "pause-redis", "kill-nats", "crash-proposer",
  "kill-redis-majority", "partition-redis", "partition-nats", "wipe-redis", "skew-clock",
  "rolling-restart", "truncate-blk", "bridge-nats", "reshard",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * Faults run only when named in `--faults`: added after runs were reported by seed, they stay
 * out of the default set so that a seed still draws the same schedule.
 */
export const OPT_IN_KINDS: readonly FaultKind[] = ["bridge-nats", "reshard"];
export const DEFAULT_KINDS: readonly FaultKind[] =
  FAULT_KINDS.filter((k) => !OPT_IN_KINDS.includes(k));

const WEIGHTS: Record<FaultKind, number> = {
  "kill-node": 3, "pause-node": 2, "kill-redis": 3, "pause-redis": 2, "kill-nats": 2,
  "crash-proposer": 3, "kill-redis-majority": 1, "partition-redis": 2, "partition-nats": 2,
  "wipe-redis": 2, "skew-clock": 2, "rolling-restart": 1, "truncate-blk": 1, "bridge-nats": 2,
  "reshard": 3,
};

/**
 * Faults that need one Redis per acceptor: killing two acceptors' Redis loses a quorum for
 * every key only then (on clusters it is two shards, and the other keys rightly go on).
 */
export const SINGLE_REDIS_KINDS: readonly FaultKind[] = ["kill-redis-majority"];
/** Faults that need each acceptor on a Redis Cluster (`--redis-cluster`). */
export const CLUSTER_KINDS: readonly FaultKind[] = ["reshard"];

/** Faults that need libfaketime (Debian `faketime`); left out, and said so, where missing. */
export const CLOCK_KINDS: readonly FaultKind[] = ["skew-clock"];

/** libfaketime, which fakes the clock of the process it is preloaded into (A8). */
export const LIBFAKETIME = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
  "/usr/lib/faketime/libfaketime.so.1"].find((path) => existsSync(path)) ?? null;

/** Cuts the highest-numbered `.blk` in `dir` to `fraction` of its size; says what it did. */
function truncateLastBlock(dir: string, fraction: number): string {
  const blocks = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".blk")) : [];
  const last = blocks.sort((a, b) => parseInt(a, 10) - parseInt(b, 10)).at(-1);
  if (last === undefined) return "no block to cut";
  const file = join(dir, last);
  const size = statSync(file).size;
  const cut = Math.floor(size * fraction);
  truncateSync(file, cut);
  return `${last}: ${size} → ${cut} bytes`;
}

/** Clock faults of row A8: a wall clock an hour ahead or behind, or running ten times fast. */
const CLOCKS = ["+1h", "-1h", "+0 x10"] as const;

/** Seconds between the restarts of a rolling restart (the row's 10 s, shortened to fit a run). */
const ROLLING_GAP_MS = 2000;

/** How long the heal of a wiped Redis retries `paxoskv acceptor rejoin` (others may be down). */
const REJOIN_LIMIT_MS = 60_000;

/** Faults that need iptables (root); left out, and said so, where it is missing. */
export const PARTITION_KINDS: readonly FaultKind[] =
  ["partition-redis", "partition-nats", "bridge-nats"];

const FAILPOINTS = ["crash-before-accept", "crash-after-accept", "crash-after-chosen"] as const;

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly target: string;
  /** What happened, e.g. which failpoint fired. */
  detail: string;
  readonly start: number;
  healedAt: number | null;
  /** When a create invoked after the heal first succeeded. */
  recoveredAt: number | null;
}

/** A window with a majority of acceptors' Redis down: no create may succeed inside it. */
export interface QuorumLossWindow {
  readonly from: number;
  readonly to: number;
  readonly targets: string;
}

interface Applied {
  readonly record: FaultRecord;
  heal(): Promise<void>;
}

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  /** Each wiped Redis's rejoin: a failed one leaves that acceptor out for the rest of the run. */
  readonly rejoins: { acceptor: string; ok: boolean; detail: string }[] = [];
  readonly quorumLoss: QuorumLossWindow[] = [];
  readonly #random: Random;
  #stopped = false;
  #loop: Promise<void> = Promise.resolve();
  #probeCount = 0;

  constructor(
    private readonly harness: Harness,
    private readonly recorder: Recorder,
    private readonly probe: PaxosKvClient,
    private readonly seed: number,
    private readonly kinds: readonly FaultKind[] = DEFAULT_KINDS,
  ) {
    this.#random = seededRandom(seed ^ 0xfa017);
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Finishes the fault in progress (healed and probed) and stops. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    await sleep(1000 + randomInt(this.#random, 2000));
    while (!this.#stopped) {
      const first = this.#pick() as FaultKind;
      // A second fault of another kind, when there is one (`--faults` may name just one).
      const second = this.#random.next() < 0.2 ? this.#pick(first) : null;
      const applied: Applied[] = [];
      for (const kind of second === null ? [first] : [first, second]) {
        const fault = await this.#apply(kind, applied);
        if (fault !== null) applied.push(fault);
      }
      await sleep(1000 + randomInt(this.#random, 4000));
      const healedAt = this.recorder.now();
      await Promise.all(applied.map(async (a) => {
        await a.heal();
        a.record.healedAt = healedAt;
      }));
      const recoveredAt = await this.probeUntilCreate(healedAt);
      for (const a of applied) a.record.recoveredAt = recoveredAt;
      if (this.#stopped) break;
      await sleep(1000 + randomInt(this.#random, 2000));
    }
  }

  #pick(not?: FaultKind): FaultKind | null {
    // Two Redis faults at once could take a majority: only kill-redis-majority does that.
    const redisFault = (k: FaultKind) => k.startsWith("kill-redis") || k === "wipe-redis";
    const kinds = this.kinds.filter((k) => k !== not && !(not !== undefined &&
      redisFault(k) && redisFault(not)));
    const total = kinds.reduce((sum, k) => sum + WEIGHTS[k], 0);
    let roll = this.#random.next() * total;
    for (const kind of kinds) {
      roll -= WEIGHTS[kind];
      if (roll < 0) return kind;
    }
    return kinds[0] ?? null;
  }

  #choose<T>(items: readonly T[]): T {
    return items[randomInt(this.#random, items.length)] as T;
  }

  #record(kind: FaultKind, target: string, detail = ""): FaultRecord {
    const record: FaultRecord = {
      kind, target, detail, start: this.recorder.now(), healedAt: null, recoveredAt: null,
    };
    this.faults.push(record);
    return record;
  }

  /** Nodes and servers another fault of this round already holds are left alone. */
  #busy(applied: readonly Applied[], target: string): boolean {
    return applied.some((a) => a.record.target.split(",").includes(target));
  }

  async #apply(kind: FaultKind, applied: readonly Applied[]): Promise<Applied | null> {
    const h = this.harness;
    const free = (ids: readonly string[]) => ids.filter((id) => !this.#busy(applied, id));
    switch (kind) {
      case "kill-node":
      case "pause-node": {
        const id = this.#choose(free(["A", "B", "C", "D"]));
        if (id === undefined) return null;
        const node = h.node(id);
        const record = this.#record(kind, id);
        h.expectedDown.add(id);
        if (kind === "kill-node") {
          await node.kill("SIGKILL");
          return { record, heal: async () => {
            await h.startNode(id);
            h.expectedDown.delete(id);
          } };
        }
        await node.kill("SIGSTOP");
        return { record, heal: async () => {
          await node.kill("SIGCONT");
          h.expectedDown.delete(id);
        } };
      }
      case "kill-redis":
      case "pause-redis": {
        const id = this.#choose(free(ACCEPTORS));
        if (id === undefined) return null;
        const server = h.redisServer(id);
        const record = this.#record(kind, `redis-${id}`);
        if (kind === "kill-redis") {
          await server.kill("SIGKILL");
          return { record, heal: () => server.restart() };
        }
        await server.kill("SIGSTOP");
        return { record, heal: () => server.kill("SIGCONT") };
      }
      case "reshard": {
        // Slots of one acceptor's cluster move between two of its primaries, keys and all,
        // while creates race (redis-cli --cluster reshard); nothing to heal.
        const id = this.#choose(free(ACCEPTORS.map((a) => `reshard-${a}`)))?.slice("reshard-".length);
        const sharded = id === undefined ? undefined : h.redisCluster(id);
        if (id === undefined || sharded === undefined) return null;
        const from = this.#choose(sharded.primaries);
        const to = this.#choose(sharded.primaries.filter((p) => p !== from));
        const slots = 200 + randomInt(this.#random, 2000);
        const record = this.#record(kind, `reshard-${id}`, `${slots} slots ${from.port}→${to.port}`);
        await sharded.reshard(from, to, slots).catch((err: unknown) => {
          // A primary another fault took down, or none of its slots left: say so and go on.
          record.detail += ` (not done: ${err instanceof Error ? err.message.split("\n")[0] : String(err)})`;
        });
        return { record, heal: async () => undefined };
      }
      case "wipe-redis": {
        // B4: the Redis loses its data (AOF deleted) under a running node; the heal rejoins.
        const id = this.#choose(free(ACCEPTORS));
        if (id === undefined) return null;
        const server = h.redisServer(id);
        const record = this.#record(kind, `redis-${id}`);
        await server.kill("SIGKILL");
        rmSync(join(server.dir, "appendonlydir"), { recursive: true, force: true });
        await server.restart();
        return { record, heal: () => this.#rejoin(id, record) };
      }
      case "kill-redis-majority": {
        const ids = [...ACCEPTORS].sort(() => this.#random.next() - 0.5).slice(0, 2);
        if (ids.some((id) => this.#busy(applied, `redis-${id}`))) return null;
        const record = this.#record(kind, ids.map((id) => `redis-${id}`).join(","));
        await Promise.all(ids.map((id) => h.redisServer(id).kill("SIGKILL")));
        const from = this.recorder.now();
        return { record, heal: async () => {
          this.quorumLoss.push({ from, to: this.recorder.now(), targets: record.target });
          await Promise.all(ids.map((id) => h.redisServer(id).restart()));
        } };
      }
      case "kill-nats": {
        const picked = this.#natsServer(kind, applied);
        if (picked === null) return null;
        await picked.server.kill("SIGKILL");
        return { record: picked.record, heal: () => picked.server.restart() };
      }
      case "partition-redis": {
        // The acceptor's node and its Redis can no longer talk; requests in flight stall.
        const id = this.#choose(free(ACCEPTORS.map((a) => `redis-${a}`)));
        if (id === undefined) return null;
        const record = this.#record(kind, id);
        const heal = partition([h.redisServer(id.slice("redis-".length)).port]);
        return { record, heal: async () => heal() };
      }
      case "partition-nats": {
        // One NATS server cut off from its clients and (as far as loopback allows: routes it
        // dialled itself go on) from the other servers.
        const picked = this.#natsServer(kind, applied);
        if (picked === null) return null;
        const { server, record } = picked;
        const heal = partition([server.port, ...(server.routePort === undefined ? [] : [server.routePort])]);
        return { record, heal: async () => heal() };
      }
      case "bridge-nats":
        return this.#bridge(applied);
      case "crash-proposer":
        return this.#crashProposer(free(["A", "B", "C"]));
      case "truncate-blk": {
        // B6: one nats-server dies and its copy of the chosen stream loses the tail of its
        // last message block (a torn write, as in Jepsen's NATS tests); restarted at the heal.
        const picked = this.#natsServer(kind, applied);
        if (picked === null) return null;
        const { server, record } = picked;
        await server.kill("SIGKILL");
        record.detail = truncateLastBlock(join(server.dir, "jetstream", "$G", "streams",
          "PAXOSKV_CHOSEN", "msgs"), 0.3 + 0.6 * this.#random.next());
        return { record, heal: () => server.restart() };
      }
      case "skew-clock":
        return this.#skewClock(free(["A", "B", "C", "D"]));
      case "rolling-restart":
        return applied.length > 0 ? null : this.#rollingRestart();
    }
  }

  /** A random nats-server no other fault of this round holds, recorded as `kind`'s target. */
  #natsServer(kind: FaultKind, applied: readonly Applied[]):
    { server: ServerHandle; record: FaultRecord } | null {
    const index = randomInt(this.#random, this.harness.natsServers.length);
    const server = this.harness.natsServers[index];
    if (server === undefined || this.#busy(applied, `nats-${index + 1}`)) return null;
    return { server, record: this.#record(kind, `nats-${index + 1}`) };
  }

  /**
   * A4: two NATS servers lose their route to each other while the third keeps its routes to
   * both. Clients of the two cut servers no longer reach each other's subscribers (NATS does
   * not forward over two routes), JetStream's peers see different majorities.
   */
  #bridge(applied: readonly Applied[]): Applied | null {
    const servers = this.harness.natsServers;
    const via = randomInt(this.#random, servers.length);
    const cut = servers.map((s, i) => ({ s, name: `nats-${i + 1}` })).filter((_, i) => i !== via);
    const [a, b] = cut;
    if (a === undefined || b === undefined || a.s.routePort === undefined ||
      b.s.routePort === undefined || cut.some((c) => this.#busy(applied, c.name))) return null;
    const record = this.#record("bridge-nats", `${a.name},${b.name}`);
    const { heal, cut: count } = cutRoutes({ port: a.s.port, routePort: a.s.routePort },
      { port: b.s.port, routePort: b.s.routePort });
    record.detail = `via nats-${via + 1}; ${count} route connection(s) cut`;
    return { record, heal: async () => heal() };
  }

  /**
   * A8: the node restarts with libfaketime preloaded, its wall clock an hour off or running ten
   * times fast (its ballots start from that clock); the heal restarts it with the real one.
   */
  async #skewClock(ids: readonly string[]): Promise<Applied | null> {
    const h = this.harness;
    const id = this.#choose(ids);
    if (id === undefined || LIBFAKETIME === null) return null;
    const clock = this.#choose(CLOCKS);
    const record = this.#record("skew-clock", id, `clock ${clock}`);
    h.expectedDown.add(id);
    await h.node(id).kill("SIGKILL");
    let failure = "";
    const variant = await h.spawnVariant(id, { LD_PRELOAD: LIBFAKETIME, FAKETIME: clock })
      .catch((err: unknown) => {
        // Why, in one line: the exit code, then the node's last error or fatal log message.
        const text = String(err);
        const exit = /exited with (\S+)/.exec(text)?.[1] ?? "?";
        const last = [...text.matchAll(/"level":"(?:error|fatal)".*?"msg":"([^"]*)"|^(paxoskv:.*)$/gm)]
          .map((m) => m[1] ?? m[2]).at(-1);
        failure = `exit ${exit}${last === undefined ? "" : `, "${last}"`}`;
        return null;
      });
    if (variant === null) record.detail = `clock ${clock}: did not start (${failure})`;
    return {
      record,
      heal: async () => {
        await variant?.kill("SIGTERM");
        await h.startNode(id);
        h.expectedDown.delete(id);
      },
    };
  }

  /**
   * C4: every Redis, node and NATS server stopped (SIGTERM) and started again in turn, a short
   * gap apart, under load. Runs alone (no second fault in its round); its hold is the rolling.
   */
  async #rollingRestart(): Promise<Applied> {
    const h = this.harness;
    const record = this.#record("rolling-restart", "all");
    const steps: [string, () => Promise<void>][] = [];
    const restartNode = async (id: string) => {
      h.expectedDown.add(id);
      await h.node(id).stop();
      await h.startNode(id);
      h.expectedDown.delete(id);
    };
    for (const id of ACCEPTORS) {
      steps.push([`redis-${id}`, () => h.redisServer(id).restart()]);
      steps.push([id, () => restartNode(id)]);
    }
    h.natsServers.forEach((server, i) => steps.push([`nats-${i + 1}`, () => server.restart()]));
    steps.push(["D", () => restartNode("D")]);
    for (const [, step] of steps) {
      await step();
      await sleep(ROLLING_GAP_MS);
    }
    record.detail = `${steps.map(([name]) => name).join(" → ")}`;
    return { record, heal: () => Promise.resolve() };
  }

  /** `paxoskv acceptor rejoin <id>`, retried while it cannot run (a majority down, a restart). */
  async #rejoin(id: string, record: FaultRecord): Promise<void> {
    const deadline = Date.now() + REJOIN_LIMIT_MS;
    let last = "";
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      try {
        const reply = await this.probe.nc.request(
          paxosRejoinSubject(this.harness.cluster.prefix, id), "", { timeout: 30_000 });
        const body = reply.json<{ ok: boolean; keys?: number; chosen?: number; ms?: number;
          error?: { code: string; message: string } }>();
        if (body.ok) {
          record.detail = `rejoined: ${body.keys ?? 0} keys (${body.chosen ?? 0} chosen) in ` +
            `${body.ms ?? 0} ms, attempt ${attempt}`;
          this.rejoins.push({ acceptor: id, ok: true, detail: record.detail });
          return;
        }
        // "is voting": no Paxos message reached the wiped store yet; the next one refuses it.
        last = `${body.error?.code ?? "?"}: ${body.error?.message ?? ""}`;
      } catch (err) {
        last = String(err);
      }
      await sleep(500);
    }
    record.detail = `rejoin failed: ${last}`;
    this.rejoins.push({ acceptor: id, ok: false, detail: record.detail });
  }

  /**
   * Restarts a node with a failpoint armed, so it kills itself between two phases of a
   * proposal under load; a node whose failpoint did not fire within the hold is killed.
   */
  async #crashProposer(ids: readonly string[]): Promise<Applied | null> {
    const h = this.harness;
    const id = this.#choose(ids);
    if (id === undefined) return null;
    const failpoint = this.#choose(FAILPOINTS);
    const record = this.#record("crash-proposer", id, `${failpoint}: armed`);
    h.expectedDown.add(id);
    await h.node(id).kill("SIGKILL");
    let variant: NodeProcess | null = null;
    try {
      variant = await h.spawnVariant(id, { PAXOSKV_FAILPOINT: `${failpoint}:0.05` });
    } catch {
      record.detail = `${failpoint}: fired while starting`;
    }
    const started = this.recorder.now();
    return {
      record,
      heal: async () => {
        if (variant !== null && !variant.running) {
          record.detail = `${failpoint}: fired after ${Math.round(this.recorder.now() - started)} ms or less`;
        } else if (variant !== null) {
          record.detail = `${failpoint}: did not fire; killed`;
        }
        if (/fired/.test(record.detail)) h.failpointCrashes.push({ node: id, at: started, failpoint });
        await variant?.kill("SIGKILL");
        await h.startNode(id);
        h.expectedDown.delete(id);
      },
    };
  }


  /**
   * Creates fresh keys (one every 100 ms, each in the history) until one succeeds; returns
   * when it completed, or null after `limitMs`.
   */
  async probeUntilCreate(since: number, limitMs = 30_000): Promise<number | null> {
    const deadline = Date.now() + limitMs;
    let done: number | null = null;
    const inFlight = new Set<Promise<Op>>();
    while (done === null && Date.now() < deadline) {
      const n = this.#probeCount++;
      const attempt = this.recorder.create(this.probe, "probe", `c${this.seed}.probe.${n}`,
        `probe:${n}`);
      inFlight.add(attempt);
      void attempt.then((op) => {
        inFlight.delete(attempt);
        if (isOk(op) && op.ti >= since && (done === null || (op.tc as number) < done)) {
          done = op.tc;
        }
      });
      await sleep(100);
    }
    await Promise.all(inFlight);
    return done;
  }
}
