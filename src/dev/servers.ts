/**
 * Real servers for `paxoskv dev` and the integration tests (after nats.js `nst`): each call
 * spawns its own `redis-server` / `nats-server` on a free loopback port in a fresh temp dir.
 * `cleanup()` kills them all and removes the dirs; exit handlers do the same if the process
 * dies first. Without the binary on PATH, a registered fallback (the tests' testcontainers)
 * runs, or a clear error names the missing binary and its Debian package.
 *
 * nats-server is the pinned release `scripts/ensure-deps.sh` builds into `.deps/bin` when it
 * is there (docs/nats-versions.md), else the one on PATH; `PAXOSKV_NATS_SERVER` names another
 * binary (CI runs a set of tests on Debian's 2.9.10 with it).
 */
import { execFile } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ManagedChild } from "./child.js";
import { OperatorCode } from "../protocol/codes.js";

/** A running server. `restart()` keeps the data dir, so AOF / JetStream state comes back. */
export interface ServerHandle {
  readonly kind: ServerKind;
  /** `redis://127.0.0.1:P` or `nats://127.0.0.1:P` (a getter: a container may move ports). */
  readonly url: string;
  readonly port: number;
  /** A NATS cluster member's route port. */
  readonly routePort?: number | undefined;
  /** The data dir (for a container, the path inside it). */
  readonly dir: string;
  /** Graceful stop (SIGTERM); resolves once the process has exited. */
  stop(): Promise<void>;
  /**
   * Sends `signal` (default SIGKILL: a crash) and waits for the exit. SIGSTOP and SIGCONT
   * pause and resume the server and return at once.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops the server if it runs, starts it again on the same port and dir, waits for ready. */
  restart(): Promise<void>;
}

export type ServerKind = "redis" | "nats";

export interface RedisServerOptions {
  /** Default true. */
  readonly appendonly?: boolean;
  /** Default "always": every acknowledged write is on disk. */
  readonly appendfsync?: "always" | "everysec" | "no";
  /** A port to prefer (used when free); default any free port. */
  readonly port?: number;
  /** More `redis-server` arguments, appended (e.g. ACL users: `--user`, ...). */
  readonly extraArgs?: readonly string[];
}

export interface NatsServerOptions {
  /** Default true: `-js -sd <dir>`. */
  readonly jetstream?: boolean;
  /** A port to prefer (used when free); default any free port. */
  readonly port?: number;
  /** Membership of a NATS cluster (see `startNatsCluster`). */
  readonly cluster?: NatsClusterMember;
  /** A configuration file's text, written to the data dir and passed with `-c`. */
  readonly config?: string;
}

export interface NatsClusterMember {
  readonly name: string;
  readonly serverName: string;
  /** This server's route port (fixed, so a restart rejoins). */
  readonly port: number;
  /** Route URLs of the other members, `nats://127.0.0.1:P`. */
  readonly routes: readonly string[];
}

/** What differs between kinds; everything else is shared. */
export interface ServerSpec {
  readonly kind: ServerKind;
  /** A command name looked up on PATH, or a path. */
  readonly binary: string;
  readonly aptPackage: string;
  readonly image: string;
  readonly containerPort: number;
  readonly readyLog: RegExp;
  readonly routePort?: number | undefined;
  args(port: number, dir: string): string[];
}

/**
 * Settings of every acceptor Redis we ship: a key's hash stays a listpack (about half the
 * memory of a hashtable) for values up to 1 KiB. See docs/operations.md, "Memory per key".
 */
export const REDIS_MEMORY_ARGS = ["--hash-max-listpack-value", "1024"] as const;

export async function startRedis(options: RedisServerOptions = {}): Promise<ServerHandle> {
  const appendonly = options.appendonly ?? true;
  return start(options.port, {
    kind: "redis", binary: "redis-server", aptPackage: "redis-server", image: "redis:7.2",
    containerPort: 6379, readyLog: /Ready to accept connections/,
    args: (port, dir) => [
      "--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
      "--appendonly", appendonly ? "yes" : "no",
      "--appendfsync", options.appendfsync ?? "always",
      "--save", "", "--protected-mode", "no", ...REDIS_MEMORY_ARGS, ...(options.extraArgs ?? []),
    ],
  });
}

export async function startNats(options: NatsServerOptions = {}): Promise<ServerHandle> {
  const jetstream = options.jetstream ?? true;
  return start(options.port, {
    kind: "nats", binary: natsServerBinary(), aptPackage: "nats-server", image: "nats:2.15",
    containerPort: 4222, readyLog: /Server is ready/, routePort: options.cluster?.port,
    args: (port, dir) => {
      const cluster = options.cluster;
      const config = options.config === undefined ? [] :
        ["-c", writeFileIn(dir, "nats.conf", options.config)];
      return [
        ...config, "-a", "127.0.0.1", "-p", String(port),
        ...(jetstream ? ["-js", "-sd", dir] : []),
        ...(cluster === undefined ? [] : [
          "--server_name", cluster.serverName, "--cluster_name", cluster.name,
          "--cluster", `nats://127.0.0.1:${cluster.port}`, "--routes", cluster.routes.join(","),
        ]),
      ];
    },
  });
}

export interface NatsClusterOptions {
  /** Servers in the cluster; default 3. */
  readonly size?: number;
  /** Cluster name; default "kv". Servers are named n1, n2, ... */
  readonly name?: string;
  /** Default true (JetStream clustered: streams can have up to `size` replicas). */
  readonly jetstream?: boolean;
  /** A configuration file's text for every member (see `NatsServerOptions.config`). */
  readonly config?: string;
}

/**
 * A NATS cluster of real servers on loopback, each with fixed client and route ports (a
 * restarted member rejoins) and its own JetStream dir. Needs the native binary.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<ServerHandle[]> {
  const size = options.size ?? 3;
  const ports: number[] = [];
  while (ports.length < 2 * size) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const routePorts = ports.slice(size);
  return Promise.all(Array.from({ length: size }, (_, i) => startNats({
    ...(options.jetstream === undefined ? {} : { jetstream: options.jetstream }),
    ...(options.config === undefined ? {} : { config: options.config }),
    port: ports[i] as number,
    cluster: {
      name: options.name ?? "kv", serverName: `n${i + 1}`, port: routePorts[i] as number,
      routes: routePorts.filter((_p, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`),
    },
  })));
}

/** The pinned NATS release's binaries, built by `scripts/ensure-deps.sh` (source or dist). */
export const PINNED_BIN_DIR = fileURLToPath(new URL("../../.deps/bin", import.meta.url));

/**
 * `PAXOSKV_NATS_SERVER` when set (it must be an executable file: a typo is an error, not a
 * silent fallback to another version), else the pinned release, else `nats-server` on PATH.
 */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  const named = env["PAXOSKV_NATS_SERVER"];
  if (named !== undefined && named !== "") {
    if (!executable(named)) {
      throw new Error(`PAXOSKV_NATS_SERVER=${named} is not an executable file`);
    }
    return named;
  }
  const pinned = join(PINNED_BIN_DIR, "nats-server");
  return executable(pinned) ? pinned : "nats-server";
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function writeFileIn(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Kills every server started by this process and removes their dirs. */
export async function cleanup(): Promise<void> {
  const all = [...running];
  running.clear();
  await Promise.allSettled(all.map((s) => s.destroy()));
}

/** What `cleanup` and the exit handlers need of a server. */
export interface Destroyable {
  destroy(): Promise<void>;
  destroySync(): void;
}

const running = new Set<Destroyable>();

export function track(server: Destroyable): void {
  if (running.size === 0 && !exitHandlersInstalled) installExitHandlers();
  running.add(server);
}

let exitHandlersInstalled = false;

function installExitHandlers(): void {
  exitHandlersInstalled = true;
  const destroyAll = () => {
    for (const s of running) s.destroySync();
    running.clear();
  };
  process.on("exit", destroyAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    // Clean up, then re-raise so the default (or another) handler still ends the process.
    process.once(signal, () => {
      destroyAll();
      process.kill(process.pid, signal);
    });
  }
}

/** Starts a server some other way when its binary is missing (tests: a container). */
export type ServerFallback = (spec: ServerSpec) => Promise<ServerHandle>;
let fallback: ServerFallback | null = null;

export function setServerFallback(f: ServerFallback): void {
  fallback = f;
}

export class MissingBinaryError extends Error {
  override readonly name = "MissingBinaryError";
  readonly code = OperatorCode.MISSING_BINARY;
  constructor(spec: ServerSpec) {
    super(`${spec.binary} is not on PATH: install the Debian package ` +
      `(apt-get install -y ${spec.aptPackage})` +
      (spec.kind === "nats" ? ", or the pinned release with `bash scripts/ensure-deps.sh`" : ""));
  }
}

async function start(port: number | undefined, spec: ServerSpec): Promise<ServerHandle> {
  if (spec.binary.includes("/") ? executable(spec.binary) : onPath(spec.binary)) {
    const server = new NativeServer(spec, await freePort(port), mkdtempSync(join(tmpdir(),
      `paxoskv-${spec.kind}-`)));
    track(server);
    await server.start();
    return server;
  }
  if (fallback === null) throw new MissingBinaryError(spec);
  return fallback(spec);
}

class NativeServer implements ServerHandle, Destroyable {
  readonly #process = new ManagedChild(4000);

  constructor(readonly spec: ServerSpec, readonly port: number, readonly dir: string) {}

  get kind(): ServerKind {
    return this.spec.kind;
  }

  get url(): string {
    return `${this.spec.kind}://127.0.0.1:${this.port}`;
  }

  get routePort(): number | undefined {
    return this.spec.routePort;
  }

  async start(): Promise<void> {
    const child = this.#process.spawn(this.spec.binary, this.spec.args(this.port, this.dir),
      { stdio: ["ignore", "pipe", "pipe"] });
    const died = this.#process.exited().then(() => {
      throw new Error(`${this.spec.binary} exited before it was ready:\n${this.#process.output()}`);
    });
    died.catch(() => undefined); // settles later on a normal stop too: not an error then
    const alive = () => this.#process.running && this.#process.pid === child.pid;
    await Promise.race([waitReady(this.spec.kind, "127.0.0.1", this.port, alive), died]);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.#process.kill(signal);
  }

  stop(): Promise<void> {
    return this.kill("SIGTERM");
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }

  destroySync(): void {
    this.#process.killNow();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function onPath(binary: string): boolean {
  return (process.env["PATH"] ?? "").split(delimiter).some((dir) => executable(join(dir, binary)));
}

/** A port the kernel just handed out on loopback; free again the moment we close it. */
export async function freePort(preferred = 0): Promise<number> {
  const server = createServer();
  server.listen(preferred, "127.0.0.1");
  const listening = await new Promise<boolean>((resolve) => {
    server.once("listening", () => resolve(true));
    server.once("error", () => resolve(false));
  });
  if (!listening) return preferred === 0 ? Promise.reject(new Error("no free port")) : freePort();
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port from bind");
  return address.port;
}

/**
 * Ready means the protocol answers: redis PONG (not -LOADING while the AOF replays), nats its
 * INFO line (sent only after JetStream is up and the client listener is open).
 */
export async function waitReady(
  kind: ServerKind, host: string, port: number, alive: () => boolean = () => true,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (alive()) {
    if (await probe(kind, host, port)) return;
    if (Date.now() > deadline) throw new Error(`${kind} on ${host}:${port} not ready`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${kind} on ${host}:${port} exited before it was ready`);
}

function probe(kind: ServerKind, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => { if (kind === "redis") socket.write("PING\r\n"); });
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      // A Redis with a password answers -NOAUTH: it is up, and the caller has the password.
      if (data.includes("\r\n")) {
        done(kind === "redis" ? /^(\+PONG|-NOAUTH)/.test(data) : data.startsWith("INFO "));
      }
    });
  });
}

/** A Redis Cluster of primaries only (no replicas: an acceptor shard must never fail over). */
export interface RedisClusterHandle {
  /** The primaries, in the order they were started (the first ones made the cluster). */
  readonly primaries: readonly ServerHandle[];
  /** Every primary's URL, comma-separated: the form PAXOSKV_REDIS_URL takes for a cluster. */
  readonly url: string;
  /** Starts one more empty primary and joins it to the cluster (it holds no slots yet). */
  addPrimary(): Promise<ServerHandle>;
  /**
   * Moves `slots` slots from the primary `from` to the primary `to` with the engine's own
   * tool (`redis-cli --cluster reshard`), keys and all, while the cluster keeps serving.
   */
  reshard(from: ServerHandle, to: ServerHandle, slots: number): Promise<void>;
  /** The node ID the cluster gives a primary (`CLUSTER MYID`). */
  nodeId(primary: ServerHandle): Promise<string>;
}

/**
 * A Redis Cluster of `size` primaries (default 3) on loopback: each an AOF `appendfsync
 * always` redis-server with `cluster-enabled yes`, joined by `redis-cli --cluster create`
 * with no replicas. Needs the native `redis-server` and `redis-cli`.
 */
export async function startRedisCluster(size = 3): Promise<RedisClusterHandle> {
  if (!onPath("redis-cli")) {
    throw new MissingBinaryError({ kind: "redis", binary: "redis-cli", aptPackage: "redis-tools",
      image: "", containerPort: 0, readyLog: /$/, args: () => [] });
  }
  const primaries = await Promise.all(Array.from({ length: size }, () => startClusterPrimary()));
  const address = (s: ServerHandle) => `127.0.0.1:${s.port}`;
  await redisCli(["--cluster", "create", ...primaries.map(address), "--cluster-replicas", "0",
    "--cluster-yes"]);
  await waitClusterOk(primaries);
  const nodeId = async (primary: ServerHandle) =>
    (await redisCli(["-p", String(primary.port), "CLUSTER", "MYID"])).trim();
  return {
    primaries, nodeId,
    get url() {
      return primaries.map((s) => s.url).join(",");
    },
    async addPrimary() {
      const added = await startClusterPrimary();
      const seed = primaries[0];
      if (seed === undefined) throw new Error("a cluster with no primary");
      await redisCli(["--cluster", "add-node", address(added), address(seed)]);
      primaries.push(added);
      await waitClusterOk(primaries);
      return added;
    },
    async reshard(from, to, slots) {
      await redisCli(["--cluster", "reshard", address(from),
        "--cluster-from", await nodeId(from), "--cluster-to", await nodeId(to),
        "--cluster-slots", String(slots), "--cluster-yes"]);
      await waitClusterOk(primaries);
    },
  };
}

/**
 * One primary. Its cluster bus gets a free port of its own: by default Redis takes the
 * client port + 10000, which another process may hold (or which passes 65535); a start that
 * still loses a port race is tried again.
 */
async function startClusterPrimary(attempt = 1): Promise<ServerHandle> {
  try {
    return await startRedis({ extraArgs: await clusterPrimaryArgs() });
  } catch (err) {
    if (attempt >= 3 || !String(err).includes("Address already in use")) throw err;
    return startClusterPrimary(attempt + 1);
  }
}

async function clusterPrimaryArgs(): Promise<string[]> {
  return [
    "--cluster-port", String(await freePort()),
    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
    "--cluster-node-timeout", "5000",
    // Never fail a shard over: an asynchronous replica lacks acknowledged votes.
    "--cluster-replica-no-failover", "yes",
    // A shard that lost its slots' owner keeps the rest of the cluster serving.
    "--cluster-require-full-coverage", "no",
  ];
}

async function redisCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { timeout: 120_000, maxBuffer: 16 << 20 };
    execFile("redis-cli", args, options, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`redis-cli ${args.join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
      } else {
        resolve(stdout);
      }
    });
  });
}

/** Waits until every primary sees the cluster as `ok` and agrees on its size. */
async function waitClusterOk(primaries: readonly ServerHandle[], timeoutMs = 20_000):
  Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const infos = await Promise.all(primaries.map((s) =>
      redisCli(["-p", String(s.port), "CLUSTER", "INFO"]).catch(() => "")));
    const ok = infos.every((info) => /cluster_state:ok/.test(info) &&
      new RegExp(`cluster_known_nodes:${primaries.length}\\b`).test(info));
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis cluster not ok:\n${infos.join("\n")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
