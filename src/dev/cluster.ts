import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectNats } from "../adapters/nats/connection.js";
import { loadNatsTls } from "../node/infrastructure/config.js";
import { paxosListSubject } from "../protocol/subjects.js";
import { WIRE_VERSION } from "../protocol/wire.js";
import { ManagedChild } from "./child.js";
import {
  startNats, startNatsCluster, startRedis, startRedisCluster, track, type Destroyable,
  type RedisClusterHandle, type ServerHandle,
} from "./servers.js";

/** A paxoskv node run as a child process (`paxoskv node`), so it can crash for real. */
export interface NodeProcess {
  readonly id: string;
  readonly env: Readonly<Record<string, string>>;
  /** The last lines it printed (pino JSON). */
  output(): string;
  readonly running: boolean;
  /** The process ID while it runs. */
  readonly pid: number | undefined;
  /** SIGTERM: a graceful stop. */
  stop(): Promise<void>;
  /** Default SIGKILL: a crash. SIGSTOP/SIGCONT pause and resume it. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again (after a stop or a crash) and waits until it serves. */
  start(): Promise<void>;
  /**
   * A full garbage collection in the node (started with `--expose-gc`), so that its live heap
   * gauge is current; resolves when it is done.
   */
  collectGarbage(): Promise<void>;
}

export interface LocalClusterOptions {
  readonly acceptors?: readonly string[];
  readonly prefix?: string;
  readonly logLevel?: string;
  /** A NATS port to prefer (e.g. 4222 for `paxoskv dev`); default any free port. */
  readonly natsPort?: number;
  /**
   * Run a NATS cluster of this many servers (JetStream clustered) instead of one server;
   * nodes get every URL and a chosen stream with this many replicas.
   */
  readonly natsClusterSize?: number;
  /** Extra environment for every node. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Nodes read the acceptors' Redis directly for quorum reads (PAXOSKV_ACCEPTOR_REDIS);
   * default true. False: over NATS, through the acceptors' processes.
   */
  readonly directReads?: boolean;
  /**
   * Each acceptor's state over a Redis Cluster of its own (3 primaries, no replicas) instead
   * of one Redis. Quorum reads then go over NATS (direct reads need one Redis per acceptor).
   */
  readonly redisCluster?: boolean;
  /** The acceptors' Redis fsync policy; default `always` (the only durable one). */
  readonly appendfsync?: "always" | "everysec";
  /** Receives every node's output as it comes (default: kept in memory only). */
  readonly echo?: (nodeId: string, text: string) => void;
  /**
   * Node.js flags for every node process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
   * Default: `PAXOSKV_NODE_EXEC_ARGV` split on spaces. With flags, `stopNodes` stops them with
   * SIGTERM (a profile is written only on a graceful exit).
   */
  readonly nodeExecArgv?: readonly string[];
}

/** nats-server with JetStream, one redis-server per acceptor (AOF); nodes on demand. */
export interface LocalCluster {
  /** The (first) NATS server. */
  readonly nats: ServerHandle;
  /** Every NATS server (one unless `natsClusterSize` was given). */
  readonly natsServers: readonly ServerHandle[];
  /** Their URLs, comma-separated, as nodes get them in PAXOSKV_NATS_URL. */
  readonly natsUrl: string;
  /** Each acceptor's Redis (none with `redisCluster`). */
  readonly redis: ReadonlyMap<string, ServerHandle>;
  /** Each acceptor's Redis Cluster (only with `redisCluster`). */
  readonly redisClusters: ReadonlyMap<string, RedisClusterHandle>;
  readonly acceptors: readonly string[];
  readonly prefix: string;
  /**
   * Environment for a node `id` with `roles` (its Redis when it is an acceptor, and a data
   * directory of its own under this cluster's temporary one).
   */
  nodeEnv(id: string, roles?: string, env?: Record<string, string>): Record<string, string>;
  /**
   * Starts `paxoskv node` as a child process and waits until it serves. The spawn that
   * completes the set of acceptors the first time also waits until every acceptor votes: a new
   * cluster's empty acceptors recover from each other before they vote, which needs them all.
   */
  spawnNode(id: string, roles?: string, env?: Record<string, string>): Promise<NodeProcess>;
  /**
   * Waits until every acceptor answers as a voting acceptor (its key listing), asking over the
   * NATS (URL, user, TLS) that node `as` uses (default: the first acceptor's).
   */
  waitAcceptorsVoting(timeoutMs?: number, as?: Record<string, string>): Promise<void>;
  /** Stops every node process started here (the servers belong to `cleanup()`). */
  stopNodes(): Promise<void>;
}

export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const acceptors = options.acceptors ?? ["A", "B", "C"];
  const prefix = options.prefix ?? "paxoskv";
  const clusterSize = options.natsClusterSize ?? 1;
  const sharded = options.redisCluster === true;
  const [natsServers, ...redisList] = await Promise.all([
    clusterSize > 1 ? startNatsCluster({ size: clusterSize }) :
      startNats(options.natsPort === undefined ? {} : { port: options.natsPort }).then((s) => [s]),
    ...acceptors.map(() =>
      sharded ? null : startRedis({ appendfsync: options.appendfsync ?? "always" })),
  ]);
  const nats = natsServers[0];
  if (nats === undefined) throw new Error("nats-server did not start");
  const redis = new Map(sharded ? []
    : acceptors.map((id, i) => [id, redisList[i] as ServerHandle]));
  // One after another: each `redis-cli --cluster create` needs the machine for a moment.
  const redisClusters = new Map<string, RedisClusterHandle>();
  for (const id of sharded ? acceptors : []) redisClusters.set(id, await startRedisCluster());
  const nodes: NodeProcess[] = [];
  const execArgv = options.nodeExecArgv ??
    (process.env.PAXOSKV_NODE_EXEC_ARGV ?? "").split(" ").filter((a) => a !== "");
  // Replicas live here, removed with the servers: nothing is left in the working directory.
  const dataRoot = mkdtempSync(join(tmpdir(), "paxoskv-data-"));
  track({
    destroy: async () => rmSync(dataRoot, { recursive: true, force: true }),
    destroySync: () => rmSync(dataRoot, { recursive: true, force: true }),
  });
  let spawned = 0;

  const nodeEnv = (id: string, roles = "proposer,acceptor,learner",
    env: Record<string, string> = {}): Record<string, string> => ({
    PAXOSKV_NODE_ID: id,
    PAXOSKV_ROLES: roles,
    PAXOSKV_ACCEPTORS: acceptors.join(","),
    PAXOSKV_NATS_URL: natsServers.map((s) => s.url).join(","),
    ...(clusterSize > 1 ? { PAXOSKV_STREAM_REPLICAS: String(clusterSize) } : {}),
    PAXOSKV_REDIS_URL: redis.get(id)?.url ?? redisClusters.get(id)?.url ?? "redis://127.0.0.1:1",
    ...(options.directReads === false || sharded ? {} : {
      PAXOSKV_ACCEPTOR_REDIS: [...redis].map(([acceptor, r]) => `${acceptor}=${r.url}`).join(","),
    }),
    PAXOSKV_PREFIX: prefix,
    PAXOSKV_REQUIRE_DURABLE: "true",
    // A local cluster is a demo: the page's Race button may create keys.
    PAXOSKV_PAGE_RACE: "true",
    // One per environment made: a second process of the same ID (a test of a duplicate
    // acceptor) must not find the first one's replica locked; a restart keeps its own.
    PAXOSKV_DATA_DIR: join(dataRoot, `${id}-${++spawned}`),
    LOG_LEVEL: options.logLevel ?? "info",
    ...options.env,
    ...env,
  });

  const natsUrl = natsServers.map((s) => s.url).join(",");
  const spawnedAcceptors = new Set<string>();
  let bootstrapped = false;
  const waitAcceptorsVoting = async (timeoutMs = 30_000,
    as: Record<string, string> = nodeEnv(acceptors[0] ?? "A")): Promise<void> => {
    const nc = await connectNats({
      servers: (as.PAXOSKV_NATS_URL ?? natsUrl).split(","), user: as.PAXOSKV_NATS_USER,
      password: as.PAXOSKV_NATS_PASSWORD, tls: loadNatsTls(as), name: "paxoskv-dev-wait",
    });
    const deadline = Date.now() + timeoutMs;
    try {
      for (const id of acceptors) {
        for (;;) {
          const answered = await nc.request(paxosListSubject(prefix, id),
            JSON.stringify({ v: WIRE_VERSION, cursor: "0", count: 1 }), { timeout: 1000 })
            .then(() => true, () => false);
          if (answered) break;
          if (Date.now() > deadline) throw new Error(`acceptor ${id} does not vote after ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      await nc.close();
    }
  };

  return {
    nats, natsServers, natsUrl, redis, redisClusters, acceptors, prefix, nodeEnv,
    waitAcceptorsVoting,
    async spawnNode(id, roles, env) {
      const node = new ChildNode(id, nodeEnv(id, roles, env), execArgv, options.echo);
      nodes.push(node);
      track(node);
      await node.start();
      if ((roles ?? "acceptor").includes("acceptor")) spawnedAcceptors.add(id);
      if (!bootstrapped && acceptors.every((a) => spawnedAcceptors.has(a))) {
        await waitAcceptorsVoting(30_000, node.env);
        bootstrapped = true;
      }
      return node;
    },
    async stopNodes() {
      await Promise.all(nodes.map((n) => n.kill(execArgv.length > 0 ? "SIGTERM" : "SIGKILL")));
    },
  };
}

/** `node [--import tsx] <cli> node`: the CLI next to this file, source or built. */
function nodeCommand(): string[] {
  const here = import.meta.url;
  const source = here.endsWith(".ts");
  const cli = fileURLToPath(new URL(`../cli/main.${source ? "ts" : "js"}`, here));
  return [...(source ? ["--import", "tsx"] : []), cli, "node"];
}

class ChildNode implements NodeProcess, Destroyable {
  readonly #process: ManagedChild;

  constructor(
    readonly id: string, readonly env: Readonly<Record<string, string>>,
    private readonly execArgv: readonly string[],
    echo?: (nodeId: string, text: string) => void,
  ) {
    this.#process = new ManagedChild(20_000, echo && ((text) => echo(id, text)));
  }

  get running(): boolean {
    return this.#process.running;
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  output(): string {
    return this.#process.output();
  }

  async start(): Promise<void> {
    if (this.#process.running) return;
    const child = this.#process.spawn(process.execPath, [...this.execArgv, ...nodeCommand()], {
      env: { ...process.env, ...this.env }, stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    await new Promise<void>((resolve, reject) => {
      // The node says it serves over IPC, whatever its log level.
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`node ${this.id} exited with ${code} ` +
        `before it served:\n${this.#process.output().slice(-3000)}`)));
    });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.#process.kill(signal);
  }

  async collectGarbage(): Promise<void> {
    const child = this.#process.child;
    if (child === null) throw new Error(`node ${this.id} is not running`);
    const done = once(child, "message");
    child.send("gc");
    await done;
  }

  stop(): Promise<void> {
    return this.kill("SIGTERM");
  }

  destroy(): Promise<void> {
    return this.kill("SIGKILL");
  }

  destroySync(): void {
    this.#process.killNow();
  }
}
