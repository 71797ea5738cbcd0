#!/usr/bin/env node
import { parseArgs } from "node:util";
import { PaxosKvClient } from "../client/client.js";
import { PaxosKvError } from "../protocol/codes.js";
import { ConfigError, loadConfig } from "../node/config.js";
import { createLogger } from "../node/logger.js";
import { startNode } from "../node/node.js";
import { openRedisStore } from "../node/open-store.js";
import { runDev } from "./dev.js";

const USAGE = `usage:
  paxoskv node   [--node-id A] [--roles proposer,acceptor,learner] [--acceptors A,B,C]
                 [--nats URL] [--redis URL]           run one node (env: PAXOSKV_*)
  paxoskv create <key> <value> [--nats URL] [--timeout MS]
  paxoskv get    <key> [--replica] [--nats URL] [--timeout MS]
  paxoskv dev                                         a local 3-node cluster (npm start)
client flags also read PAXOSKV_NATS_URL, PAXOSKV_NATS_USER, PAXOSKV_NATS_PASSWORD, PAXOSKV_PREFIX`;

/** Flags of `paxoskv node` and the environment variables they override. */
const NODE_FLAGS = {
  "node-id": "PAXOSKV_NODE_ID", roles: "PAXOSKV_ROLES", acceptors: "PAXOSKV_ACCEPTORS",
  nats: "PAXOSKV_NATS_URL", redis: "PAXOSKV_REDIS_URL", prefix: "PAXOSKV_PREFIX",
  "http-port": "PAXOSKV_HTTP_PORT", "log-level": "LOG_LEVEL",
} as const;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "node": return runNode(rest);
    case "create": case "get": return runClient(command, rest);
    case "dev": return runDev(rest);
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

async function runClient(command: "create" | "get", args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      nats: { type: "string" }, timeout: { type: "string" }, replica: { type: "boolean" },
      prefix: { type: "string" },
    },
  });
  const [key, value] = positionals;
  if (key === undefined || (command === "create" && value === undefined)) {
    console.error(USAGE);
    return 2;
  }
  const client = await PaxosKvClient.connect({
    servers: (values.nats ?? process.env.PAXOSKV_NATS_URL ?? "nats://127.0.0.1:4222").split(","),
    prefix: values.prefix ?? process.env.PAXOSKV_PREFIX ?? "paxoskv",
    timeoutMs: values.timeout === undefined ? 5000 : Number(values.timeout),
    ...(process.env.PAXOSKV_NATS_USER ? { user: process.env.PAXOSKV_NATS_USER } : {}),
    ...(process.env.PAXOSKV_NATS_PASSWORD ? { password: process.env.PAXOSKV_NATS_PASSWORD } : {}),
  });
  try {
    const result = command === "create"
      ? await client.create(key, value ?? "")
      : await client.get(key, { replica: values.replica === true });
    console.log(JSON.stringify(result));
    return 0;
  } finally {
    await client.close();
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
  if (err instanceof ConfigError || err instanceof PaxosKvError) {
    console.error(`paxoskv: ${err.code}: ${err.message}`);
  } else {
    console.error("paxoskv:", err);
  }
  process.exit(1);
});
