import { AuthorizationError } from "@nats-io/transport-node";
import { AcceptorRegistry, registryBucket } from "../adapters/jetstream/acceptor-registry.js";
import { ChosenLog, type OpenOptions } from "../adapters/jetstream/chosen-log.js";
import { isTransientJetStreamError } from "../adapters/jetstream/transient.js";
import { connectNats, type NatsConnection } from "../adapters/nats/connection.js";
import type { AcceptorStore, ReplicaStore } from "../adapters/ports.js";
import { ReplicaStoreError, SqliteReplicaStore } from "../adapters/sqlite/replica-store.js";
import { ErrorCode } from "../protocol/codes.js";
import { CHOSEN_STREAM } from "../protocol/subjects.js";
import { ConfigError, type NodeConfig } from "./infrastructure/config.js";
import type { MountPage } from "./infrastructure/http.js";
import { JetStreamWatch, type WatchedStream } from "./infrastructure/jetstream-watch.js";
import { chosenEventOf, type LearnerRole, type Learned } from "./roles/learner-role.js";
import { formatDuration, type Logger } from "./infrastructure/logger.js";
import { Metrics } from "./infrastructure/metrics.js";
import { retryWhileStarting } from "./infrastructure/start-retry.js";
import { startAcceptor, type RunningAcceptor } from "./roles/start-acceptor.js";
import { startClientEndpoints } from "./roles/start-client-endpoints.js";
import { startLearner, type RunningLearner } from "./roles/start-learner.js";
import { startProposer, type RunningProposer } from "./roles/start-proposer.js";
import { startRepair } from "./repair/start-repair.js";
import { readiness, startHttpPort, startStatus } from "./infrastructure/start-status.js";
import { AcceptorVotingView } from "./infrastructure/status.js";

export interface NodeDeps {
  readonly log: Logger;
  /** Opens this node's acceptor store (only called with the acceptor role). */
  readonly openStore: (config: NodeConfig, log: Logger) => Promise<AcceptorStore>;
  /** The web page served on the HTTP port beside the health routes (none when absent). */
  readonly page?: MountPage;
}

export interface RunningNode {
  readonly nc: NatsConnection;
  /** The learner's replica, when this node is a learner. */
  readonly learner: LearnerRole | null;
  /** Stops taking requests, finishes the ones in flight, drains NATS, closes Redis. */
  stop(): Promise<void>;
}

/** How long a starting node waits for JetStream to answer before it gives up. */
const JETSTREAM_WAIT_MS = 60_000;
/** The longest pause between two attempts while JetStream does not answer yet. */
const JETSTREAM_RETRY_PAUSE_MAX_MS = 2000;

/**
 * Runs `open` until JetStream answers: a node started while a NATS server restarts, or while
 * JetStream elects its leaders, waits (saying so once) instead of exiting. Errors that are not
 * about JetStream answering, and any error after JETSTREAM_WAIT_MS, are thrown.
 */
function whenJetStreamAnswers<T>(log: Logger, what: string, open: () => Promise<T>): Promise<T> {
  return retryWhileStarting({
    waitMs: JETSTREAM_WAIT_MS, maxPauseMs: JETSTREAM_RETRY_PAUSE_MAX_MS,
    retryable: isTransientJetStreamError,
    onWait: (err) =>
      log.warn({ err, code: ErrorCode.UNAVAILABLE }, `waiting for JetStream to open ${what}`),
    onReady: (waitedMs) => log.info({ waitedMs },
      `JetStream opened ${what} after ${formatDuration(waitedMs)}`),
  }, open);
}

export async function startNode(config: NodeConfig, deps: NodeDeps): Promise<RunningNode> {
  // First: a data directory that cannot hold the replica is a configuration error, said now.
  const replica = config.roles.includes("learner") ? openReplica(config.dataDir) : null;
  try {
    return await startWith(config, deps, replica);
  } catch (err) {
    replica?.close();
    throw err;
  }
}

/** Connects, then starts the parts; a failure stops the parts started before it. */
async function startWith(
  config: NodeConfig, deps: NodeDeps, replica: ReplicaStore | null,
): Promise<RunningNode> {
  const { log } = deps;
  const { nc, natsState } = await connect(config, log);
  const stops: (() => Promise<void>)[] = [];
  try {
    return await startParts({ config, deps, replica, nc, natsState, stops });
  } catch (err) {
    // A part that could not start leaves no other part running (a half-started acceptor
    // would vote and a half-started learner follow the stream with no process around them).
    for (const stop of stops.toReversed()) {
      await Promise.resolve().then(stop)
        .catch((e: unknown) => log.warn({ err: e }, "stopping a started part failed"));
    }
    if (!nc.isClosed()) await nc.close();
    throw err;
  }
}

/**
 * The path of a create, read from where it ends to where it comes in: connect; open the
 * streams; the acceptors vote on it, the proposer runs its rounds, the learner keeps what was
 * chosen, repair brings back what went missing, and last the client endpoints let it in. Each
 * part starts after the parts it uses and stops in reverse order: the endpoints first, the
 * acceptor last.
 *
 * Each part started pushes its stop onto `stops`, so a failure can stop what had started.
 */
async function startParts({ config, deps, replica, nc, natsState, stops }: {
  config: NodeConfig; deps: NodeDeps; replica: ReplicaStore | null; nc: NatsConnection;
  natsState: { connected: boolean }; stops: (() => Promise<void>)[];
}): Promise<RunningNode> {
  const { log } = deps;
  const metrics = new Metrics(config.nodeId);
  const { chosenLog, registry } = await openStreams(nc, config, log);

  // What this node hears of every acceptor's voting beat, its own included.
  const votingView = new AcceptorVotingView(config.acceptors);
  votingView.start(nc, config.prefix);
  stops.push(async () => votingView.stop());
  // The acceptors vote on a create's Prepare and Accept, durably, as the registered store.
  const acceptor = registry === null || !config.roles.includes("acceptor") ? null
    : await startAcceptor({ nc, config, log, metrics, registry, openStore: deps.openStore });
  if (acceptor !== null) stops.push(acceptor.stop);
  // The proposer runs the create's rounds (and every node's quorum reads and read repairs).
  const proposer = await startProposer({ nc, config, log, metrics, registry });
  stops.push(proposer.stop);
  // The learner keeps what was chosen; a value its own get found it learns, then announces.
  const learner = replica === null ? null : startLearner({
    config, log, metrics, chosenLog, replica, resolve: proposer.resolve,
    announce: (learned) => announceQuietly(nc, chosenLog, learned),
    acceptorStore: acceptor?.store ?? null, proposalsSettled: proposer.settled,
  });
  if (learner !== null) stops.push(learner.stop);
  // A value a create or a rebuild found chosen reaches this learner and the chosen stream.
  const announce = announcer(nc, chosenLog, learner);
  // Repair finds what a crash or a lost message left unannounced, unlearned, unrecovered.
  const repair = startRepair({ nc, config, log, chosenLog, proposer, acceptor, learner, announce });
  stops.push(repair.stop);
  // Last, the door: clients' creates and gets reach the parts above.
  const endpoints = await startClientEndpoints({ nc, config, log, metrics, proposer, learner,
    announce });
  stops.push(endpoints.stop);

  // Around them: streams JetStream lost made again, the status answer, the HTTP port.
  const jetstreamWatch = new JetStreamWatch(nc, watchedStreams({ nc, config, log, chosenLog, registry,
    acceptor, proposer, learner, rebuild: repair.rebuild }), log, metrics);
  jetstreamWatch.start();
  stops.push(async () => jetstreamWatch.stop());
  const status = {
    nc, config, log, metrics, votingView, acceptor, proposer, learner, endpoints, page: deps.page,
    readiness: () => readiness(nc, natsState.connected, learner?.role ?? null, jetstreamWatch),
  };
  const stopStatus = startStatus(status);
  stops.push(async () => stopStatus());
  if (config.httpPort !== undefined) stops.push(await startHttpPort(config.httpPort, status));

  await nc.flush();
  log.info({ roles: config.roles, acceptors: config.acceptors, prefix: config.prefix,
    quorumReads: config.acceptorRedis === undefined ? "nats" : "direct" }, "node started");
  return {
    nc, learner: learner?.role ?? null,
    async stop() {
      for (const stop of stops.toReversed()) await stop();
      if (!nc.isClosed()) await nc.drain();
      log.info("node stopped");
    },
  };
}

/** Connects to NATS; a refused login is a setting to fix: said which one, without a stack. */
async function connect(
  config: NodeConfig, log: Logger,
): Promise<{ nc: NatsConnection; natsState: { connected: boolean } }> {
  const nc = await connectNats({
    servers: config.natsServers, user: config.natsUser, password: config.natsPassword,
    tls: config.natsTls, name: `paxoskv-${config.nodeId}`,
  }).catch((err: unknown) => {
    if (!(err instanceof AuthorizationError)) throw err;
    const who = config.natsUser === undefined ? "a connection without a user"
      : `user "${config.natsUser}"`;
    throw new ConfigError(`NATS at ${config.natsServers.join(",")} refused ${who} ` +
      `(${err.message}): set PAXOSKV_NATS_USER and PAXOSKV_NATS_PASSWORD to the node's ` +
      "NATS credentials");
  });
  const natsState = { connected: true };
  void watchNatsStatus(nc, log, natsState);
  return { nc, natsState };
}

/**
 * The chosen stream, which every role uses; and the acceptor registry, where an acceptor
 * claims its ID and with which direct quorum reads fence what each acceptor's Redis holds.
 */
async function openStreams(
  nc: NatsConnection, config: NodeConfig, log: Logger,
): Promise<{ chosenLog: ChosenLog; registry: AcceptorRegistry | null }> {
  const chosenLog = await whenJetStreamAnswers(log, "the chosen stream",
    () => ChosenLog.open(nc, config.prefix, config.streamReplicas, logOptions(config, log)));
  const registry = config.roles.includes("acceptor") || config.acceptorRedis !== undefined
    ? await whenJetStreamAnswers(log, "the acceptor registry",
      () => AcceptorRegistry.open(nc, config.prefix, config.streamReplicas)) : null;
  return { chosenLog, registry };
}

/** What the JetStream watch makes again when JetStream lost it, and what follows then. */
function watchedStreams(parts: {
  nc: NatsConnection; config: NodeConfig; log: Logger; chosenLog: ChosenLog;
  registry: AcceptorRegistry | null; acceptor: RunningAcceptor | null;
  proposer: RunningProposer; learner: RunningLearner | null;
  rebuild: (() => Promise<unknown>) | null;
}): WatchedStream[] {
  const { nc, config, log, chosenLog, registry, learner } = parts;
  const watched: WatchedStream[] = [{
    name: "chosen-stream", stream: CHOSEN_STREAM,
    consequence: "Chosen values are safe in the acceptors: the node makes the stream again, " +
      "its learner follows it anew and rebuilds its replica from the acceptors, which " +
      "announces every chosen value again.",
    recreate: async () => {
      await ChosenLog.open(nc, config.prefix, config.streamReplicas, logOptions(config, log));
    },
    resume: async () => {
      // What this replica holds is chosen: the new stream gets it back (in batches; learners
      // announcing the same keys add duplicates, which learners take as no-ops); the rebuild
      // adds the rest.
      if (learner !== null) await reannounce(learner.role.replica, chosenLog);
      learner?.role.refollow();
      void parts.rebuild?.();
    },
  }];
  if (registry !== null) {
    watched.push({
      name: "acceptor-registry", stream: `KV_${registryBucket(config.prefix)}`,
      consequence: "The acceptors' registrations went with it: the node makes the bucket " +
        "again and registers its own store; an empty store recovers from the other acceptors " +
        "before it votes. Until every acceptor is registered again, a rolled-back store is " +
        "not detected.",
      recreate: () => registry.recreate(),
      resume: async () => {
        await registry.recreate(); // binds this node's handle to the new bucket
        await parts.acceptor?.membership.registryRecreated();
        await parts.proposer.directReads?.refollow();
      },
    });
  }
  return watched;
}

/** A value found chosen: this node's learner learns it, and the chosen stream announces it. */
function announcer(
  nc: NatsConnection, chosenLog: ChosenLog, learner: RunningLearner | null,
): (learned: Learned) => void {
  return (learned) => {
    learner?.role.learn(learned.key, learned.value, learned.ballot);
    announceQuietly(nc, chosenLog, learned);
  };
}

/**
 * Announces a chosen value on the stream. The stream is a fast path: an announcement lost
 * here is found by the acceptors' repair.
 */
function announceQuietly(nc: NatsConnection, chosenLog: ChosenLog, learned: Learned): void {
  if (!nc.isClosed()) chosenLog.announceQuietly(chosenEventOf(learned));
}

/** This node's subject of the chosen log, and a word in the log when it updates the stream. */
function logOptions(config: NodeConfig, log: Logger): OpenOptions {
  return {
    announcer: config.nodeId,
    onUpdated: (was) => log.warn({ stream: CHOSEN_STREAM, was }, "updated the chosen stream " +
      "to the log form (batches under <prefix>.log.<node>, no per-subject limit); its older " +
      "messages stay readable"),
  };
}

/** Announces every value of the replica again, a page at a time (memory stays flat). */
async function reannounce(replica: ReplicaStore, chosenLog: ChosenLog): Promise<void> {
  const PAGE = 1000;
  for (let after: string | null = null; ;) {
    const page = replica.page(after, PAGE);
    // Acknowledged, page by page: a batch lost here would otherwise wait for the rebuild.
    await Promise.all(page.map((chosen) => chosenLog.announce(chosenEventOf(chosen))));
    const last = page.at(-1);
    if (page.length < PAGE || last === undefined) return;
    after = last.key;
  }
}

/** The learner's replica in PAXOSKV_DATA_DIR; a directory that cannot hold it is a config error. */
function openReplica(dataDir: string): ReplicaStore {
  try {
    return SqliteReplicaStore.open(dataDir);
  } catch (err) {
    if (!(err instanceof ReplicaStoreError)) throw err;
    throw new ConfigError(`invalid configuration:\n  PAXOSKV_DATA_DIR: ${err.message}`,
      { cause: err });
  }
}

async function watchNatsStatus(
  nc: NatsConnection, log: Logger, state: { connected: boolean },
): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === "disconnect" || status.type === "reconnect") {
      state.connected = status.type === "reconnect";
      log.warn({ nats: status.type, server: "server" in status ? status.server : undefined },
        `NATS ${status.type}`);
    }
  }
}
