#!/usr/bin/env node
import { parseArgs } from "node:util";
import { PaxosKvClient } from "../client/client.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { ConfigError, loadConfig, loadNatsTls } from "../node/config.js";
import { createLogger } from "../node/logger.js";
import { startNode } from "../node/node.js";
import { openRedisStore } from "../node/open-store.js";
import { runDev } from "./dev.js";
import { runUi } from "../ui/standalone.js";
import { paxosRebuildSubject, paxosRejoinSubject } from "../protocol/subjects.js";
import {
  formatTraceEvent, traceControlSubject, traceSubject, type TraceEvent,
} from "../node/trace.js";

const USAGE = `usage:
  paxoskv node   [--node-id A] [--roles proposer,acceptor,learner] [--acceptors A,B,C]
                 [--nats URL] [--redis URL] [--rebuild true] [--data-dir ./data/A]
                 [--replica-keys 'orders.>']                run one node (env: PAXOSKV_*)
  paxoskv create <key> <value> [--nats URL] [--timeout MS] [--retries N]
  paxoskv get    <key> [--replica] [--nats URL] [--timeout MS] [--retries N]
  paxoskv watch  [key-prefix] [--nats URL]            print chosen values as they arrive
  paxoskv replica rebuild [--nats URL] [--timeout MS] every learner rebuilds from the acceptors
  paxoskv acceptor rejoin <id> [--nats URL] [--timeout MS]
                 an acceptor whose Redis lost its data recovers its state from the others
                 and votes again (it refuses to vote until then)
  paxoskv trace  [key-pattern] [--nats URL] [--json]  print the live Paxos messages of creates
                 (--json: one TraceEvent per line, for the web page's replay)
  paxoskv ui     [--nats URL] [--port 8080] [--host 127.0.0.1] [--acceptors A,B,C]
                 the web page (cluster view, live sequence diagrams) against a cluster
  paxoskv dev    [--nats-port 4222] [--log-level warn] a local 3-node cluster (npm start)
  paxoskv bench  [--seq 1000] [--par 10000] [--soak 0] [--soak-roles R] [--only] [--out DIR]
                 [--workloads REGEX]  (only the workloads whose name matches)
                 paxoskv vs NATS KV (R1, R3) and etcd on local servers (npm run bench)
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
  prefix: { type: "string" }, retries: { type: "string" },
} as const;

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

function connectClient(values: ClientValues): Promise<PaxosKvClient> {
  const env = process.env;
  const tls = loadNatsTls(env);
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
    log.fatal({ err, code: "INTERNAL" }, "uncaught exception: stopping");
    process.exit(1);
  });
  const node = await startNode(config, { log, openStore: openRedisStore });
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
  const [key, value] = positionals;
  const missing = command === "create" ? value === undefined : command === "get" && key === undefined;
  if (missing) {
    console.error(USAGE);
    return 2;
  }
  const client = await connectClient(values);
  try {
    if (command === "watch") {
      const stop = new AbortController();
      for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => stop.abort());
      for await (const event of client.watch(key, stop.signal)) console.log(JSON.stringify(event));
      return 0;
    }
    const result = command === "create"
      ? await client.create(key ?? "", value ?? "")
      : await client.get(key ?? "", { replica: values.replica === true });
    console.log(JSON.stringify(result));
    return 0;
  } finally {
    await client.close();
  }
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
    JSON.stringify({ pattern, ttlMs: 15_000 }));
  enable();
  const renew = setInterval(enable, 5_000);
  const firstSeen = new Map<string, number>();
  const sub = nc.subscribe(traceSubject(prefix, pattern));
  process.once("SIGINT", () => sub.unsubscribe());
  if (values.json === true) console.error(`tracing ${pattern} (Ctrl-C stops)`);
  else console.log(`tracing ${pattern} (Ctrl-C stops)`);
  for await (const msg of sub) {
    if (values.json === true) {
      console.log(msg.string());
      continue;
    }
    const event = JSON.parse(msg.string()) as TraceEvent;
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
  } });
  const { runBench, formatResults, writeResults } = await import("../bench/run.js");
  const results = await runBench({
    seqOps: Number(values.seq), parOps: Number(values.par), soakSeconds: Number(values.soak),
    soakRoles: values["soak-roles"],
    only: values.only, outDir: values.out,
    workloads: new RegExp(values.workloads),
  });
  console.log(formatResults(results));
  console.log(`\nJSON: ${writeResults(results, values.out)}`);
  return 0;
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
      console.log(reply.string());
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
    const body = reply.string();
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
