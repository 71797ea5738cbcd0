import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import { connectNats, type NatsConnection } from "../adapters/nats/connection.js";
import { NatsPaxosTransport } from "../adapters/nats/paxos-transport.js";
import type { AcceptorStore } from "../adapters/ports.js";
import type { ProposerConfig } from "../core/proposer.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { errorReply } from "../protocol/replies.js";
import { publicWildcard } from "../protocol/subjects.js";
import { AcceptorRole } from "./acceptor-role.js";
import type { NodeConfig } from "./config.js";
import { createReply, parseCreate } from "./create-endpoint.js";
import type { Logger } from "./logger.js";
import { ProposerDriver } from "./proposer-driver.js";

export const SERVICE_NAME = "paxoskv";
export const SERVICE_VERSION = "0.1.0";
/** All proposers share one queue group for creates; all learners one for reads. */
export const PROPOSER_QUEUE = "paxoskv-proposers";

export interface NodeDeps {
  readonly log: Logger;
  /** Opens this node's acceptor store (only called with the acceptor role). */
  readonly openStore: (config: NodeConfig, log: Logger) => Promise<AcceptorStore>;
}

export interface RunningNode {
  readonly nc: NatsConnection;
  /** Stops taking requests, finishes the ones in flight, drains NATS, closes Redis. */
  stop(): Promise<void>;
}

/** Derives the core's limits from the node configuration (ticks are milliseconds). */
export function proposerConfigOf(config: NodeConfig): ProposerConfig {
  return {
    nodeId: config.nodeId,
    acceptors: config.acceptors,
    phaseTimeoutTicks: config.phaseTimeoutMs,
    backoffBaseTicks: 5,
    backoffMaxTicks: Math.max(10, Math.floor(config.phaseTimeoutMs / 2)),
    // Leave a margin so the reply reaches a client that waits requestTimeoutMs.
    deadlineTicks: Math.max(50, config.requestTimeoutMs - 100),
    roundCountMax: 1000,
  };
}

export async function startNode(config: NodeConfig, deps: NodeDeps): Promise<RunningNode> {
  const { log } = deps;
  const nc = await connectNats({
    servers: config.natsServers, user: config.natsUser, password: config.natsPassword,
    name: `paxoskv-${config.nodeId}`,
  });
  void watchNatsStatus(nc, log);
  const stops: (() => Promise<void>)[] = [];

  if (config.roles.includes("acceptor")) {
    const acceptorLog = log.child({ role: "acceptor" });
    const store = await deps.openStore(config, acceptorLog);
    const acceptor = new AcceptorRole(nc, config.prefix, store, acceptorLog);
    acceptor.start();
    stops.push(async () => {
      await acceptor.stop();
      await store.close();
    });
  }

  let service: Service | null = null;
  if (config.roles.includes("proposer")) {
    service = await new Svcm(nc).add({
      name: SERVICE_NAME, version: SERVICE_VERSION, queue: PROPOSER_QUEUE,
      description: "paxoskv: a write-once key-value store on Basic Paxos",
      metadata: { node: config.nodeId, roles: config.roles.join(",") },
    });
    const proposerLog = log.child({ role: "proposer" });
    const driver = startProposer(nc, config, proposerLog, service);
    stops.unshift(async () => {
      await service?.stop();
      await driver.settled();
    });
  }

  await nc.flush();
  log.info({ roles: config.roles, acceptors: config.acceptors, prefix: config.prefix },
    "node started");
  return {
    nc,
    async stop() {
      for (const stop of stops) await stop();
      if (!nc.isClosed()) await nc.drain();
      log.info("node stopped");
    },
  };
}

function startProposer(
  nc: NatsConnection, config: NodeConfig, log: Logger, service: Service,
): ProposerDriver {
  let driver: ProposerDriver | null = null;
  const transport = new NatsPaxosTransport(nc, config.prefix, config.nodeId,
    (reply) => { if (reply.type !== "read-reply") driver?.deliver(reply); },
    (reason) => log.warn({ code: ErrorCode.BAD_REQUEST }, reason));
  driver = new ProposerDriver(proposerConfigOf(config), (m) => transport.send(m), log);
  transport.start();
  const proposer = driver;
  service.addEndpoint("create", {
    subject: publicWildcard(config.prefix, "create"),
    handler: (_err, msg) => void handleCreate(msg, config, proposer, log),
    metadata: { description: "create a key once: the body is the value" },
  });
  return proposer;
}

async function handleCreate(
  msg: ServiceMsg, config: NodeConfig, driver: ProposerDriver, log: Logger,
): Promise<void> {
  try {
    const request = parseCreate(config.prefix, config.valueBytesMax, msg);
    const outcome = await driver.propose(request.key, request.value);
    respond(msg, createReply(request, outcome));
  } catch (err) {
    const known = err instanceof PaxosKvError;
    const code = known ? err.code : ErrorCode.INTERNAL;
    const message = err instanceof Error ? err.message : String(err);
    if (known) log.debug({ code, subject: msg.subject }, message);
    else log.error({ err, code, subject: msg.subject }, "create failed");
    respond(msg, errorReply(code, message));
  }
}

function respond(msg: ServiceMsg, body: unknown): void {
  if (msg.reply !== undefined) msg.respond(JSON.stringify(body));
}

async function watchNatsStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === "disconnect" || status.type === "reconnect") {
      log.warn({ nats: status.type, server: "server" in status ? status.server : undefined },
        `NATS ${status.type}`);
    }
  }
}
