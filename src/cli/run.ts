/**
 * The paxoskv CLI. Loaded by src/cli/main.ts once it has checked the Node.js version: this
 * module and what it imports may use any API of the Node.js that package.json "engines" names.
 */
import { createReadStream } from "node:fs";
import { parseArgs } from "node:util";
import { AuthorizationError, ConnectionError } from "@nats-io/transport-node";
import { decodeUtf8 } from "../adapters/nats/connection.js";
import { PaxosKvClient } from "../client/client.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { ConfigError, loadConfig, loadNatsTls } from "../node/infrastructure/config.js";
import { createLogger } from "../node/infrastructure/logger.js";
import { startNode } from "../node/node.js";
import { openRedisStore } from "../node/infrastructure/open-store.js";
import { runDev } from "./dev.js";
import { runUi } from "./ui.js";
import { createUi } from "../ui/routes.js";
import { formatStatus, gatherStatus } from "./status.js";
import { exportChosen, importChosen } from "./export.js";
import { paxosRebuildSubject, paxosRejoinSubject } from "../protocol/subjects.js";
import {
  TRACE_RENEW_MS, TRACE_TTL_MS, traceControlSubject, type TraceControl,
} from "../protocol/trace-control.js";
import { formatTraceEvent, traceSubject, type TraceEvent } from "../protocol/trace.js";

const USAGE = `usage:
  paxoskv node   [--node-id A] [--roles proposer,acceptor,learner] [--acceptors A,B,C]
                 [--nats URL] [--redis URL] [--rebuild true] [--data-dir ./data/A]
                 [--replica-keys 'orders.>']                run one node (env: PAXOSKV_*)
  paxoskv create <key> <value> [--nats URL] [--timeout MS] [--retries N]
  paxoskv create <key> -  |  --file PATH   the value from stdin (-) or a file (--file - is
                 stdin too), byte for byte: a trailing newline is kept (echo v | ... stores
                 "v\\n"; printf %s v does not add one); up to 64 MiB read, the cluster's
                 limit (64 KiB by default) applies
  paxoskv get    <key> [--replica] [--raw] [--nats URL] [--timeout MS] [--retries N]
                 --raw: print only the value's bytes (no newline), exit 3 when not found
  paxoskv watch  [key-prefix] [--nats URL]  print chosen values as they arrive (live only):
                 the key-prefix matches whole dot-separated tokens, so "orders" shows
                 orders and orders.1.x but not ordersX; no prefix shows every key
  paxoskv status [--nats URL] [--json]                every node's roles, version, readiness, and
                 whether each acceptor votes (node credentials; exit 1 if a node or acceptor is out)
  paxoskv export <file> [--resume] [--acceptors A,B,C] [--nats URL]
                 every chosen key and value, read with quorum, to a JSON Lines file
                 (node credentials; --resume continues an interrupted export)
  paxoskv import <file> [--nats URL] [--retries N]
                 creates every key of an export (into an empty cluster: disaster recovery)
  paxoskv replica rebuild [--nats URL] [--timeout MS] every learner rebuilds from the acceptors
  paxoskv acceptor rejoin <id> [--nats URL] [--timeout MS]
                 an acceptor whose Redis lost its data recovers its state from the others
                 and votes again (it refuses to vote until then)
  paxoskv trace  [key-pattern] [--nats URL] [--json]  print the live Paxos messages of creates
                 (--json: one TraceEvent per line, for the web page's replay)
  paxoskv ui     [--nats URL] [--port 8080] [--host 127.0.0.1] [--acceptors A,B,C] [--race]
                 the web page (cluster view, live sequence diagrams) against a cluster
  paxoskv dev    [--nats-port 4222] [--log-level warn] [--redis-cluster]
                 a local 3-node cluster (npm start); --redis-cluster: each acceptor's state
                 on a Redis Cluster of its own (3 primaries) instead of one Redis
  paxoskv bench  [--seq 1000] [--par 10000] [--soak 0] [--soak-roles R] [--only] [--out DIR]
                 [--workloads REGEX]  (only the workloads whose name matches)
                 paxoskv vs NATS KV (R1, R3, R3 sync always) and etcd on local servers (npm run bench)
  paxoskv bench  --scale N [--value-bytes 24] [--concurrency 256] [--nats-servers 1|3]
                 [--acceptor-stores redis|cluster] [--skip-rebuild] [--graph FILE.png] [--out DIR]
                 N creates on a local cluster (each acceptor on one Redis, or a 3-primary cluster):
                 throughput, latency and every process's memory every 10 %, a learner restart,
                 a full rebuild (docs/benchmarks.md, "Scale"); --from RUN.json --graph FILE.png
                 graphs an earlier run
client flags also read PAXOSKV_NATS_URL, PAXOSKV_NATS_USER, PAXOSKV_NATS_PASSWORD, PAXOSKV_PREFIX,
PAXOSKV_NATS_TLS_CA, PAXOSKV_NATS_TLS_CERT, PAXOSKV_NATS_TLS_KEY`;

/** Flags of `paxoskv node` and the environment variables they override. */
const NODE_FLAGS = {
  "node-id": "PAXOSKV_NODE_ID", roles: "PAXOSKV_ROLES", acceptors: "PAXOSKV_ACCEPTORS",
  nats: "PAXOSKV_NATS_URL", redis: "PAXOSKV_REDIS_URL", prefix: "PAXOSKV_PREFIX",
  "http-port": "PAXOSKV_HTTP_PORT", "log-level": "LOG_LEVEL", rebuild: "PAXOSKV_REBUILD_ON_START",
  "data-dir": "PAXOSKV_DATA_DIR", "replica-keys": "PAXOSKV_REPLICA_KEYS",
} as const;

const CLIENT_OPTIONS = {
  nats: { type: "string" }, timeout: { type: "string" }, replica: { type: "boolean" },
  prefix: { type: "string" }, retries: { type: "string" }, file: { type: "string" },
  raw: { type: "boolean" },
} as const;

/**
 * The most a value read from stdin or a file may be: NATS' own ceiling for max_payload. The
 * cluster's limit (PAXOSKV_MAX_VALUE_BYTES) is checked by the node; this only bounds memory.
 */
const VALUE_READ_BYTES_MAX = 64 * 1024 * 1024;

/** Exit code of `get --raw` for a key that does not exist (1 is an error, 2 a usage error). */
const EXIT_NOT_FOUND = 3;

type ClientValues = { nats?: string; timeout?: string; prefix?: string; retries?: string };

/** A whole-number flag's value, or `fallback` when absent; a clear error otherwise. */
function wholeNumber(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST,
      `--${flag} must be a whole number ≥ ${min}, not ${JSON.stringify(text)}`);
  }
  return n;
}

async function connectClient(values: ClientValues): Promise<PaxosKvClient> {
  const env = process.env;
  const tls = loadNatsTls(env);
  try {
    return await connectWith(values, env, tls);
  } catch (err) {
    // Say which setting to change: the client library knows no variables.
    if (err instanceof PaxosKvError && err.cause instanceof AuthorizationError) {
      throw new PaxosKvError(err.code, `${err.message}; set PAXOSKV_NATS_USER and ` +
        "PAXOSKV_NATS_PASSWORD to the client's NATS credentials", { cause: err });
    }
    if (err instanceof PaxosKvError && err.cause instanceof ConnectionError) {
      throw new PaxosKvError(err.code, `${err.message}; set PAXOSKV_NATS_URL or --nats`,
        { cause: err });
    }
    throw err;
  }
}

function connectWith(
  values: ClientValues, env: NodeJS.ProcessEnv, tls: ReturnType<typeof loadNatsTls>,
): Promise<PaxosKvClient> {
  return PaxosKvClient.connect({
    servers: (values.nats ?? env.PAXOSKV_NATS_URL ?? "nats://127.0.0.1:4222").split(","),
    prefix: values.prefix ?? env.PAXOSKV_PREFIX ?? "paxoskv",
    timeoutMs: wholeNumber("timeout", values.timeout, 5000, 1),
    retries: wholeNumber("retries", values.retries, 0, 0),
    ...(env.PAXOSKV_NATS_USER ? { user: env.PAXOSKV_NATS_USER } : {}),
    ...(env.PAXOSKV_NATS_PASSWORD ? { password: env.PAXOSKV_NATS_PASSWORD } : {}),
    ...(tls !== undefined ? { tls } : {}),
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "node": return runNode(rest);
    case "create": case "get": case "watch": return runClient(command, rest);
    case "replica":
      if (rest[0] === "rebuild") return runRebuild(rest.slice(1));
      console.error(`unknown command: replica ${rest[0] ?? ""}\n${USAGE}`);
      return 2;
    case "acceptor":
      if (rest[0] === "rejoin") return runRejoin(rest.slice(1));
      console.error(`unknown command: acceptor ${rest[0] ?? ""}\n${USAGE}`);
      return 2;
    case "status": return runStatus(rest);
    case "export": return runExport(rest);
    case "import": return runImport(rest);
    case "dev": return runDev(rest);
    case "bench": return runBenchCommand(rest);
    case "trace": return runTrace(rest);
    case "ui": return runUi(rest);
    case undefined: case "help": case "--help": case "-h":
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command: ${command}\n${USAGE}`);
      return 2;
  }
}

async function runNode(args: string[]): Promise<number> {
  const options = Object.fromEntries(Object.keys(NODE_FLAGS).map((f) => [f, { type: "string" }]));
  const { values } = parseArgs({ args, options: options as Record<string, { type: "string" }> });
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [flag, name] of Object.entries(NODE_FLAGS)) {
    if (values[flag] !== undefined) env[name] = values[flag];
  }
  const config = loadConfig(env);
  const log = createLogger(config.nodeId, config.logLevel);
  process.on("uncaughtException", (err) => {
    // Broken invariants stop the node; acceptor state is durable, so a restart is safe.
    log.fatal({ err, code: ErrorCode.INTERNAL }, "uncaught exception: stopping");
    process.exit(1);
  });
  const node = await startNode(config, { log, openStore: openRedisStore, page: createUi });
  // A parent that started us with --expose-gc (`bench --scale`) asks for full collections, so
  // that the live heap it reads next (paxoskv_process_heap_live_bytes) is what is really held.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (process.send !== undefined && gc !== undefined) {
    process.on("message", (message) => {
      if (message === "gc") gc();
      setTimeout(() => process.send?.("gc done"), 50); // the GC observer has noted it by then
    });
  }
  // A parent that spawned us with an IPC channel (`paxoskv dev`, tests) waits for this.
  process.send?.("ready");
  process.channel?.unref();
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down: finishing requests in flight");
      process.once(signal, () => process.exit(1));
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  await node.stop();
  return 0;
}

async function runClient(command: "create" | "get" | "watch", args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: CLIENT_OPTIONS });
  const [key, valueArg] = positionals;
  const problem = usageProblem(command, positionals, values);
  if (problem !== null) {
    console.error(`paxoskv: ${problem}\n${USAGE}`);
    return 2;
  }
  // Read before connecting: a file that cannot be read costs no connection.
  const value = command === "create" ? await valueOf(valueArg, values.file) : "";
  const client = await connectClient(values);
  try {
    if (command === "watch") {
      const stop = new AbortController();
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
      const events = client.watch(key, stop.signal);
      const first = events.next(); // subscribes
      await client.nc.flush();
      // On stderr, so stdout stays one event per line for scripts.
      console.error(key === undefined ? "watching every key (Ctrl-C stops)"
        : `watching ${key} and keys under it, ${key}.* (whole tokens; Ctrl-C stops)`);
      for (let next = await first; next.done !== true; next = await events.next()) {
        console.log(JSON.stringify(next.value));
      }
      return 0;
    }
    const result = command === "create"
      ? await client.create(key ?? "", value)
      : await client.get(key ?? "", { replica: values.replica === true });
    if (values.raw === true) {
      if (!("value" in result)) return EXIT_NOT_FOUND;
      await new Promise<void>((resolve, reject) =>
        process.stdout.write(result.value, (err) => (err ? reject(err) : resolve())));
      return 0;
    }
    console.log(JSON.stringify(result));
    return 0;
  } finally {
    await client.close();
  }
}

/** What is wrong with a create, get or watch command line, or null. */
function usageProblem(
  command: "create" | "get" | "watch", positionals: string[],
  values: { file?: string; raw?: boolean; replica?: boolean },
): string | null {
  const [key, value] = positionals;
  if (command === "watch") {
    if (values.file !== undefined || values.raw === true) return "watch takes no --file or --raw";
    return positionals.length > 1 ? "watch takes one key prefix" : null;
  }
  if (key === undefined) return `${command} needs a key`;
  if (command === "get") {
    if (values.file !== undefined) return "get takes no --file";
    return positionals.length > 1 ? "get takes one key" : null;
  }
  if (values.raw === true || values.replica === true) return "create takes no --raw or --replica";
  if (value !== undefined && values.file !== undefined) {
    return "give the value as an argument, as - (stdin) or with --file, not two of them";
  }
  if (value === undefined && values.file === undefined) {
    return "create needs a value: an argument, - for stdin, or --file PATH";
  }
  // Unquoted words would otherwise be lost silently: `create k hello world` stored "hello".
  return positionals.length > 2 ? "create takes one value (quote a value with spaces)" : null;
}

/** The value of a create: the argument, or the exact bytes of stdin (`-`) or a file. */
async function valueOf(arg: string | undefined, file: string | undefined):
  Promise<string | Uint8Array> {
  if (file === undefined && arg !== "-") return arg ?? "";
  const from = file === undefined || file === "-" ? "stdin" : file;
  let data: Uint8Array;
  try {
    data = await readAll(from === "stdin" ? process.stdin : createReadStream(from));
  } catch (err) {
    if (err instanceof PaxosKvError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, `cannot read the value from ${from}: ${reason}`);
  }
  if (decodeUtf8(data) === null) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST,
      `the value from ${from} is not valid UTF-8 (values are UTF-8 text); nothing was sent`);
  }
  return data;
}

/** Every byte of `stream`, refusing more than VALUE_READ_BYTES_MAX. */
async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    bytes += buffer.length;
    if (bytes > VALUE_READ_BYTES_MAX) {
      throw new PaxosKvError(ErrorCode.VALUE_TOO_LARGE,
        `the value is over ${VALUE_READ_BYTES_MAX} bytes; nothing was sent`);
    }
    chunks.push(buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Switches tracing on in every node for the pattern, and prints what they publish. */
async function runTrace(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true,
    options: { ...CLIENT_OPTIONS, json: { type: "boolean" } } });
  const pattern = positionals[0] ?? ">";
  const prefix = values.prefix ?? process.env.PAXOSKV_PREFIX ?? "paxoskv";
  const client = await connectClient(values);
  const nc = client.nc;
  const enable = () => nc.publish(traceControlSubject(prefix),
    JSON.stringify({ pattern, ttlMs: TRACE_TTL_MS } satisfies TraceControl));
  enable();
  const renew = setInterval(enable, TRACE_RENEW_MS);
  const firstSeen = new Map<string, number>();
  const sub = nc.subscribe(traceSubject(prefix, pattern));
  process.once("SIGINT", () => sub.unsubscribe());
  if (values.json === true) console.error(`tracing ${pattern} (Ctrl-C stops)`);
  else console.log(`tracing ${pattern} (Ctrl-C stops)`);
  for await (const msg of sub) {
    const text = decodeUtf8(msg.data);
    if (text === null) continue;
    if (values.json === true) {
      console.log(text);
      continue;
    }
    const event = JSON.parse(text) as TraceEvent;
    const t0 = firstSeen.get(event.traceId) ?? event.t;
    firstSeen.set(event.traceId, t0);
    console.log(formatTraceEvent(event, event.t - t0));
  }
  clearInterval(renew);
  await client.close();
  return 0;
}

async function runBenchCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: {
    seq: { type: "string", default: "1000" }, par: { type: "string", default: "10000" },
    soak: { type: "string", default: "0" }, only: { type: "boolean", default: false },
    "soak-roles": { type: "string", default: "proposer,acceptor,learner" },
    out: { type: "string", default: "bench/results" },
    workloads: { type: "string", default: "" },
    scale: { type: "string" }, "value-bytes": { type: "string" },
    concurrency: { type: "string" }, "nats-servers": { type: "string" },
    "skip-rebuild": { type: "boolean", default: false }, graph: { type: "string" },
    from: { type: "string" }, "acceptor-stores": { type: "string" },
  } });
  if (values.scale !== undefined || values.from !== undefined) return runScaleCommand(values);
  const { runBench, formatHeadline, formatResults, writeResults } = await import("../bench/run.js");
  const results = await runBench({
    seqOps: Number(values.seq), parOps: Number(values.par), soakSeconds: Number(values.soak),
    soakRoles: values["soak-roles"],
    only: values.only, outDir: values.out,
    workloads: new RegExp(values.workloads),
  });
  console.log(formatResults(results));
  const headline = formatHeadline(results);
  if (headline !== "") console.log(`\n${headline}`);
  console.log(`\nJSON: ${writeResults(results, values.out)}`);
  return 0;
}

/** `bench --scale N` (or `--from results.json --graph out.png`: a graph of an earlier run). */
async function runScaleCommand(values: {
  scale?: string; "value-bytes"?: string; concurrency?: string; "nats-servers"?: string;
  "skip-rebuild": boolean; graph?: string; from?: string; out: string;
  "acceptor-stores"?: string;
}): Promise<number> {
  const { formatScale, readScale, runScale, shapeViolations, writeScale } =
    await import("../bench/scale.js");
  let result;
  if (values.from !== undefined) {
    result = readScale(values.from);
  } else {
    const natsServers = wholeNumber("nats-servers", values["nats-servers"], 1, 1);
    if (natsServers !== 1 && natsServers !== 3) {
      throw new PaxosKvError(ErrorCode.BAD_REQUEST, "--nats-servers must be 1 or 3");
    }
    const stores = values["acceptor-stores"] ?? "redis";
    if (stores !== "redis" && stores !== "cluster") {
      throw new PaxosKvError(ErrorCode.BAD_REQUEST,
        `--acceptor-stores must be redis (one Redis per acceptor) or cluster (a 3-primary ` +
        `Redis Cluster per acceptor), not ${stores}`);
    }
    result = await runScale({
      keys: wholeNumber("scale", values.scale, 0, 10),
      valueBytes: wholeNumber("value-bytes", values["value-bytes"], 24, 8),
      concurrency: wholeNumber("concurrency", values.concurrency, 256, 1),
      natsServers, acceptors: stores, rebuild: !values["skip-rebuild"],
    });
    console.log(`\nJSON: ${writeScale(result, values.out)}`);
  }
  console.log(formatScale(result));
  if (values.graph !== undefined) {
    const { writeScaleGraph } = await import("../bench/scale-graph.js");
    await writeScaleGraph(result, values.graph);
    console.log(`graph: ${values.graph}`);
  }
  const violations = shapeViolations(result);
  console.log(violations.length === 0 ? "shape: memory flat in the keys, restart resumed, 0 errors" :
    `shape violated:\n${violations.map((v) => `- ${v}`).join("\n")}`);
  return violations.length === 0 ? 0 : 1;
}

/** Prints every node's status; exit 1 when no node answers, one is not ready or not voting. */
async function runStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...CLIENT_OPTIONS, json: { type: "boolean" } } });
  const client = await connectClient(values);
  try {
    const prefix = values.prefix ?? process.env.PAXOSKV_PREFIX ?? "paxoskv";
    const { nodes, malformed } = await gatherStatus(client.nc, prefix,
      wholeNumber("timeout", values.timeout, 3000, 1));
    if (values.json === true) console.log(JSON.stringify({ nodes, malformed }, null, 2));
    else console.log(nodes.length === 0 ? "no node answered" : formatStatus(nodes));
    if (malformed > 0) console.error(`paxoskv: ${malformed} malformed status answer(s)`);
    const healthy = nodes.length > 0 && nodes.every((n) => n.ready &&
      n.acceptor?.voting !== false && Object.values(n.acceptors).every((a) => a === "voting"));
    return healthy ? 0 : 1;
  } finally {
    await client.close();
  }
}

async function runExport(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: {
    ...CLIENT_OPTIONS, resume: { type: "boolean" }, acceptors: { type: "string" },
  } });
  const [file] = positionals;
  if (file === undefined || positionals.length !== 1) {
    console.error(`usage: paxoskv export <file> [--resume]\n${USAGE}`);
    return 2;
  }
  const client = await connectClient(values);
  try {
    const report = await exportChosen({
      client, file, resume: values.resume === true,
      prefix: values.prefix ?? process.env.PAXOSKV_PREFIX ?? "paxoskv",
      acceptors: (values.acceptors ?? process.env.PAXOSKV_ACCEPTORS ?? "A,B,C").split(","),
    });
    console.log(JSON.stringify(report));
    return report.complete ? 0 : 1;
  } finally {
    await client.close();
  }
}

async function runImport(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: CLIENT_OPTIONS,
    allowPositionals: true });
  const [file] = positionals;
  if (file === undefined || positionals.length !== 1) {
    console.error(`usage: paxoskv import <file>\n${USAGE}`);
    return 2;
  }
  const client = await connectClient(values);
  try {
    const report = await importChosen(client, file);
    console.log(JSON.stringify({ ...report, conflicts: report.conflicts.length }));
    for (const key of report.conflicts) console.error(`conflict: ${key} holds another value`);
    return report.conflicts.length === 0 && report.failed === 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}

/** Asks every learner to rebuild its replica from the acceptors and prints each report. */
async function runRebuild(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: CLIENT_OPTIONS });
  const client = await connectClient(values);
  try {
    const prefix = values.prefix ?? process.env.PAXOSKV_PREFIX ?? "paxoskv";
    const replies = await client.nc.requestMany(paxosRebuildSubject(prefix), "",
      { maxWait: values.timeout === undefined ? 30_000 : Number(values.timeout),
        strategy: "stall", stall: 5_000 });
    let count = 0;
    for await (const reply of replies) {
      console.log(decodeUtf8(reply.data) ?? "(a reply that is not UTF-8)");
      count++;
    }
    if (count === 0) console.error("paxoskv: no learner answered");
    return count === 0 ? 1 : 0;
  } finally {
    await client.close();
  }
}

/** Asks the refused acceptor `<id>` to rejoin and prints its report (node credentials). */
async function runRejoin(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: CLIENT_OPTIONS, allowPositionals: true });
  const [id] = positionals;
  if (id === undefined || positionals.length !== 1) {
    console.error(`usage: paxoskv acceptor rejoin <id>\n${USAGE}`);
    return 2;
  }
  const client = await connectClient(values);
  try {
    const prefix = values.prefix ?? process.env.PAXOSKV_PREFIX ?? "paxoskv";
    const reply = await client.nc.request(paxosRejoinSubject(prefix, id), "",
      { timeout: values.timeout === undefined ? 120_000 : Number(values.timeout) });
    const body = decodeUtf8(reply.data) ?? "{}";
    console.log(body);
    return (JSON.parse(body) as { ok?: unknown }).ok === true ? 0 : 1;
  } catch (err) {
    if (err instanceof Error && /no responders/i.test(err.message)) {
      console.error(`paxoskv: no node runs acceptor ${id}`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
  if (err instanceof ConfigError || err instanceof PaxosKvError) {
    console.error(`paxoskv: ${err.code}: ${err.message}`);
  } else if (err instanceof TypeError && String((err as { code?: unknown }).code)
    .startsWith("ERR_PARSE_ARGS")) {
    // A flag parseArgs refused: its own message says which, without the stack.
    console.error(`paxoskv: ${err.message}\n${USAGE}`);
    process.exit(2);
  } else {
    console.error("paxoskv:", err);
  }
  process.exit(1);
});
