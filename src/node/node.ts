import { Svcm, type Service } from "@nats-io/services";
import { AuthorizationError, nuid } from "@nats-io/transport-node";
import { AcceptorRegistry, registryBucket } from "../adapters/jetstream/acceptor-registry.js";
import { ChosenLog } from "../adapters/jetstream/chosen-log.js";
import { isTransientJetStreamError } from "../adapters/jetstream/transient.js";
import { connectNats, type NatsConnection } from "../adapters/nats/connection.js";
import { NatsPaxosTransport } from "../adapters/nats/paxos-transport.js";
import type { AcceptorStore, ReplicaStore } from "../adapters/ports.js";
import { ReplicaStoreError, SqliteReplicaStore } from "../adapters/sqlite/replica-store.js";
import type { ProposerConfig } from "../core/proposer.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { errorReply } from "../protocol/replies.js";
import {
  CHOSEN_STREAM, keyMatchesFilter, paxosListSubject, paxosRebuildSubject, publicSubject,
  publicWildcard,
} from "../protocol/subjects.js";
import type { Readiness } from "../protocol/readiness.js";
import { WIRE_VERSION, wireBytesMax } from "../protocol/wire.js";
import { AcceptorRole } from "./acceptor-role.js";
import { AcceptorMembership } from "./acceptor-membership.js";
import { AnnouncedBatcher, AnnouncementRepair, DEFAULT_REPAIR } from "./announce-repair.js";
import { FairAdmission, type AdmittedOperation } from "./admission.js";
import { AcceptorRedisReads } from "./direct-reads.js";
import { startHttp, type MountPage, type Voting } from "./http.js";
import { ConfigError, type NodeConfig } from "./config.js";
import { handleCreate } from "./create-endpoint.js";
import { JetStreamWatch, type WatchedStream } from "./jetstream-watch.js";
import { serve } from "./endpoint.js";
import { chosenEventOf, LearnerRole, resolveChosen, type Learned } from "./learner-role.js";
import { formatDuration, type Logger } from "./logger.js";
import { Metrics, type ReadResult } from "./metrics.js";
import { Tracer } from "./trace.js";
import { ProposerDriver } from "./proposer-driver.js";
import { DirectQuorumReader, QuorumReader, type QuorumReads } from "./quorum-reader.js";
import {
  listAcceptorPage, listKeysForRecovery, rebuildReplica,
  type RebuildPosition, type RebuildReport,
} from "./rebuild.js";
import { retryWhileStarting } from "./start-retry.js";
import { AcceptorVotingView, serveStatus, startVotingBeat } from "./status.js";
import { STATUS_VERSION } from "../protocol/status.js";

export const SERVICE_NAME = "paxoskv";
export const SERVICE_VERSION = "0.1.0";
/** Client endpoints run in one queue group: each request is answered by one node. */
export const SERVICE_QUEUE = "paxoskv";

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

/**
 * Runs `open` until JetStream answers: a node started while a NATS server restarts, or while
 * JetStream elects its leaders, waits (saying so once) instead of exiting. Errors that are not
 * about JetStream answering, and any error after JETSTREAM_WAIT_MS, are thrown.
 */
function whenJetStreamAnswers<T>(log: Logger, what: string, open: () => Promise<T>): Promise<T> {
  return retryWhileStarting({
    waitMs: JETSTREAM_WAIT_MS, maxPauseMs: 2000, retryable: isTransientJetStreamError,
    onWait: (err) =>
      log.warn({ err, code: ErrorCode.UNAVAILABLE }, `waiting for JetStream to open ${what}`),
    onReady: (waitedMs) => log.info({ waitedMs },
      `JetStream opened ${what} after ${formatDuration(waitedMs)}`),
  }, open);
}

/** Derives the core's limits from the node configuration (ticks are milliseconds). */
export function proposerConfigOf(config: NodeConfig): ProposerConfig {
  return {
    nodeId: config.nodeId,
    acceptors: config.acceptors,
    phaseTimeoutTicks: config.phaseTimeoutMs,
    backoffBaseTicks: config.backoffBaseMs,
    backoffMaxTicks: config.backoffMaxMs,
    // Leave a margin so the reply reaches a client that waits requestTimeoutMs.
    deadlineTicks: Math.max(50, config.requestTimeoutMs - 100),
    roundCountMax: config.roundsMax,
  };
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

async function startWith(
  config: NodeConfig, deps: NodeDeps, replica: ReplicaStore | null,
): Promise<RunningNode> {
  const { log } = deps;
  const nc = await connectNats({
    servers: config.natsServers, user: config.natsUser, password: config.natsPassword,
    tls: config.natsTls, name: `paxoskv-${config.nodeId}`,
  }).catch((err: unknown) => {
    // A refused login is a setting to fix: say which one, without a stack.
    if (!(err instanceof AuthorizationError)) throw err;
    const who = config.natsUser === undefined ? "a connection without a user"
      : `user "${config.natsUser}"`;
    throw new ConfigError(`NATS at ${config.natsServers.join(",")} refused ${who} ` +
      `(${err.message}): set PAXOSKV_NATS_USER and PAXOSKV_NATS_PASSWORD to the node's ` +
      "NATS credentials");
  });
  const natsState = { connected: true };
  void watchNatsStatus(nc, log, natsState);
  const metrics = new Metrics(config.nodeId);
  // Stopped in order: client endpoints first, then work in flight, then the acceptor.
  const stops: (() => Promise<void>)[] = [];

  const chosenLog = await whenJetStreamAnswers(log, "the chosen stream",
    () => ChosenLog.open(nc, config.prefix, config.streamReplicas));
  // The acceptor claims its ID there; direct quorum reads fence with what it holds.
  const registry = config.roles.includes("acceptor") || config.acceptorRedis !== undefined
    ? await whenJetStreamAnswers(log, "the acceptor registry",
      () => AcceptorRegistry.open(nc, config.prefix, config.streamReplicas)) : null;
  let store: AcceptorStore | null = null;
  let membership: AcceptorMembership | null = null;
  if (registry !== null && config.roles.includes("acceptor")) {
    const acceptorLog = log.child({ role: "acceptor" });
    const opened = await deps.openStore(config, acceptorLog);
    store = opened;
    const role = new AcceptorRole(nc, config.prefix, opened, acceptorLog, metrics,
      (err) => membership?.fenced(err), () => membership?.leaseHolds() ?? false);
    membership = new AcceptorMembership({
      nc, prefix: config.prefix, store: opened, registry, role, acceptors: config.acceptors,
      log: acceptorLog, phaseTimeoutMs: config.phaseTimeoutMs, leaseMs: config.acceptorLeaseMs,
    });
    await membership.start();
    const running = membership;
    stops.push(async () => {
      await running.stop();
      await opened.close();
    });
  }
  const votingView = new AcceptorVotingView(config.acceptors);
  votingView.start(nc, config.prefix);
  stops.push(async () => votingView.stop());
  if (membership !== null) {
    const own = membership;
    const stopBeat = startVotingBeat(nc, config.prefix, own.id,
      () => ({ voting: own.voting, ...(own.refusal === null ? {} : { reason: own.refusal }) }));
    stops.unshift(async () => stopBeat());
  }
  const acceptorVoting = store === null || membership === null ? null
    : () => votingOf(store, membership);

  const clientSide = await startClientSide(nc, config, log, chosenLog, store, registry, metrics,
    replica);
  membership?.serveRejoin({
    listKeys: (id) => listKeysForRecovery(nc, config.prefix, id, config.requestTimeoutMs),
    // This node's own acceptor role is stopped, so any answer comes from another process.
    servedElsewhere: () => nc.request(paxosListSubject(config.prefix, config.nodeId),
      JSON.stringify({ v: WIRE_VERSION, cursor: "0", count: 1 }),
      { timeout: config.phaseTimeoutMs }).then(() => true, () => false),
    recover: (key) => clientSide.driver.recover(key),
  });
  stops.unshift(clientSide.stop);
  const learner = clientSide.learner;

  const watched: WatchedStream[] = [{
    name: "chosen-stream", stream: CHOSEN_STREAM,
    consequence: "Chosen values are safe in the acceptors: the node makes the stream again, " +
      "its learner follows it anew and rebuilds its replica from the acceptors, which " +
      "announces every chosen value again.",
    recreate: async () => {
      await ChosenLog.open(nc, config.prefix, config.streamReplicas);
    },
    resume: async () => {
      // What this replica holds is chosen: the new stream gets it back (one message per key,
      // so learners announcing the same keys add nothing twice); the rebuild adds the rest.
      if (learner !== null) await reannounce(learner.replica, chosenLog, nc);
      learner?.refollow();
      void clientSide.rebuild?.();
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
        await membership?.registryRecreated();
        await clientSide.directReads?.refollow();
      },
    });
  }
  const jetstreamWatch = new JetStreamWatch(nc, watched, log, metrics);
  jetstreamWatch.start();
  stops.unshift(() => Promise.resolve(jetstreamWatch.stop()));
  const serving = () => readiness(nc, natsState.connected, learner, jetstreamWatch);
  const startedAt = performance.now();
  const stopStatus = serveStatus(nc, config.prefix, async () => {
    const [ready, own] = await Promise.all([serving(), acceptorVoting?.() ?? null]);
    return {
      v: STATUS_VERSION, node: config.nodeId, roles: [...config.roles], version: SERVICE_VERSION,
      uptimeS: Math.round((performance.now() - startedAt) / 1000), ready: ready.ready,
      checks: { ...ready.checks, ...own?.checks },
      ...(own === null || membership === null ? {} : { acceptor: {
        id: membership.id, voting: own.voting, ...(own.reason === undefined ? {} : { reason: own.reason }),
      } }),
      acceptors: votingView.all(),
    };
  });
  stops.unshift(async () => stopStatus());

  if (config.httpPort !== undefined) {
    const page = deps.page?.({
      nc, prefix: config.prefix, acceptors: config.acceptors,
      connect: { servers: config.natsServers, user: config.natsUser, password: config.natsPassword,
        tls: config.natsTls },
      self: { node: config.nodeId, roles: config.roles, readiness: serving },
      onError: (what, err) => log.warn({ err }, `web page: ${what} failed`),
      race: config.pageRace,
    });
    const server = await startHttp(config.httpPort, {
      other: (path, req, res) => page?.route(path, req, res) ?? false,
      readiness: serving,
      ...(acceptorVoting === null ? {} : { voting: acceptorVoting }),
      metrics: async () => {
        const [ready, own] = await Promise.all([serving(), acceptorVoting?.() ?? null]);
        metrics.natsConnected.set(ready.checks.nats === true ? 1 : 0);
        if (own !== null) metrics.redisUp.set(own.checks.redis === true ? 1 : 0);
        if (membership !== null) metrics.acceptorBucketsLost.set(membership.partsLost);
        metrics.acceptorsConfigured.set(config.acceptors.length);
        for (const [acceptor, state] of Object.entries(votingView.all())) {
          metrics.acceptorVoting.set({ acceptor }, state === "voting" ? 1 : 0);
        }
        metrics.buildInfo.set({ version: SERVICE_VERSION, nodejs: process.versions.node,
          nats_server: nc.info?.version ?? "unknown", redis: own?.redisVersion ?? "none" }, 1);
        metrics.admissionQueued.set({ op: "create" }, clientSide.admission?.queued ?? 0);
        metrics.admissionQueued.set({ op: "get" }, clientSide.readAdmission?.queued ?? 0);
        for (const [acceptor, up] of clientSide.directReads?.reachable() ?? []) {
          metrics.quorumReadRedisUp.set({ acceptor }, up ? 1 : 0);
        }
        if (learner !== null) {
          metrics.learnerLag.set(learner.lag);
          metrics.learnerSequence.set(learner.replica.sequence);
          metrics.replicaKeys.set(learner.replica.size);
        }
        return metrics.text();
      },
    }, log);
    stops.unshift(() => {
      page?.close(); // open trace feeds would keep server.close() waiting
      return new Promise((resolve) => server.close(() => resolve()));
    });
  }

  await nc.flush();
  log.info({ roles: config.roles, acceptors: config.acceptors, prefix: config.prefix,
    quorumReads: config.acceptorRedis === undefined ? "nats" : "direct" }, "node started");
  return {
    nc, learner,
    async stop() {
      for (const stop of stops) await stop();
      if (!nc.isClosed()) await nc.drain();
      log.info("node stopped");
    },
  };
}

/**
 * Paxos rounds, quorum reads and the chosen stream, which every role uses (an acceptor to
 * repair lost announcements), and the client endpoints of the proposer and learner roles.
 */
async function startClientSide(
  nc: NatsConnection, config: NodeConfig, log: Logger, chosenLog: ChosenLog,
  store: AcceptorStore | null, registry: AcceptorRegistry | null, metrics: Metrics,
  /** The learner's replica, opened by startNode when this node is a learner. */
  replica: ReplicaStore | null,
): Promise<{
  learner: LearnerRole | null; driver: ProposerDriver; directReads: AcceptorRedisReads | null;
  admission: FairAdmission | null; readAdmission: FairAdmission | null;
  /** Rebuilds the learner's replica from the acceptors (null without the learner role). */
  rebuild: (() => Promise<unknown>) | null;
  stop: () => Promise<void>;
}> {
  const proposerLog = log.child({ role: "proposer" });
  let driver: ProposerDriver | null = null;
  let natsReader: QuorumReader | null = null;
  const transport = new NatsPaxosTransport(nc, config.prefix, config.nodeId, (reply) => {
    if (reply.type === "read-reply") natsReader?.deliver(reply);
    else driver?.deliver(reply);
  }, (reason) => proposerLog.warn({ code: ErrorCode.BAD_REQUEST }, reason));
  const tracer = new Tracer(nc, config.prefix, config.nodeId, config.acceptors);
  tracer.start();
  driver = new ProposerDriver(proposerConfigOf(config), (m) => transport.send(m), proposerLog,
    [metrics, tracer]);
  // Direct: each acceptor's Redis answers in one round trip, with no NATS hop and no wake-up
  // of the acceptor's process on the way.
  const direct = config.acceptorRedis === undefined || registry === null ? null :
    await AcceptorRedisReads.open({
      urls: config.acceptorRedis, registry, prefix: config.prefix,
      commandTimeoutMs: config.phaseTimeoutMs, log: log.child({ role: "learner" }),
    });
  let reader: QuorumReads;
  if (direct === null) {
    natsReader = new QuorumReader(config.acceptors, (m) => transport.send(m),
      config.phaseTimeoutMs, nuid.next());
    reader = natsReader;
  } else {
    reader = new DirectQuorumReader(config.acceptors, (id, key) => direct.read(id, key),
      config.phaseTimeoutMs);
  }
  transport.start();

  const countRead = (result: ReadResult) => metrics.reads.inc({ result });
  const resolve = (key: string) => resolveChosen(key, reader, driver, countRead);
  let learner: LearnerRole | null = null;
  const announce = (learned: Learned) => {
    learner?.learn(learned.key, learned.value, learned.ballot);
    // The stream is a fast path: an announcement lost here is found by the acceptors' repair.
    if (!nc.isClosed()) chosenLog.announceQuietly(chosenEventOf(learned));
  };

  const service: Service = await new Svcm(nc).add({
    name: SERVICE_NAME, version: SERVICE_VERSION, queue: SERVICE_QUEUE,
    description: "paxoskv: a write-once key-value store on Basic Paxos",
    metadata: { node: config.nodeId, roles: config.roles.join(",") },
    statsHandler: () => Promise.resolve(learner === null ? null :
      { replicaSize: learner.replica.size, lag: learner.lag }),
  });

  // A create's own deadline starts once it is admitted: waiting at most an eighth of it keeps
  // the answer within 4.5 s at the defaults, before the `nats` CLI's 5 s. A get's quorum read
  // waits at most the phase timeout (a quarter), so a get may wait half.
  const admissionOf = (op: AdmittedOperation) => new FairAdmission({
    operation: op, maxInFlight: config.maxInFlight, maxQueuedPerSource: config.maxInFlight,
    maxQueued: 8 * config.maxInFlight,
    maxWaitMs: config.requestTimeoutMs / (op === "create" ? 8 : 2),
  }, (reason) => metrics.admissionRefused.inc({ op, reason }));
  const admission = config.roles.includes("proposer") ? admissionOf("create") : null;
  let readAdmission: FairAdmission | null = null;
  if (admission !== null) {
    const proposer = driver;
    service.addEndpoint("create", {
      subject: publicWildcard(config.prefix, "create"),
      metadata: { description: "create a key once: the body is the value" },
      handler: (_err, msg) => void serve(msg, proposerLog, () => handleCreate(msg, {
        prefix: config.prefix, valueBytesMax: config.valueBytesMax,
        wireBytesMax: wireBytesMax(nc.info?.max_payload),
        known: (key) => learner?.replica.get(key)?.value,
        propose: (key, value, onStart, fresh) => proposer.propose(key, value, onStart, fresh),
        admit: (source) => admission.enter(source),
        announce, metrics, tracer,
      })),
    });
  }

  let rebuilds: { run: () => Promise<unknown>; stop: () => void } | null = null;
  if (replica !== null) {
    const learnerLog = log.child({ role: "learner" });
    const seen = store === null ? null : new AnnouncedBatcher(store, learnerLog);
    const reads = admissionOf("get");
    readAdmission = reads;
    const opened = replica;
    learnerLog.info({ dataDir: config.dataDir, sequence: opened.sequence, size: opened.size },
      "replica opened");
    const role = new LearnerRole(config.prefix, chosenLog, opened, config.replicaKeys, resolve,
      announce, (key) => {
        seen?.add(key);
        metrics.streamed(key);
      }, learnerLog, countRead, (source) => reads.enter(source));
    learner = role;
    role.start();
    rebuilds = serveRebuild(nc, config, learnerLog, () => rebuildReplica({
      acceptors: config.acceptors,
      listPage: (id, cursor) =>
        listAcceptorPage(nc, config.prefix, id, cursor, config.requestTimeoutMs),
      wanted: (key) => keyMatchesFilter(config.replicaKeys, key),
      has: (key) => opened.get(key) !== undefined,
      resolve, learn: announce,
      position: {
        load: () => JSON.parse(opened.note(REBUILD_NOTE) ?? "null") as RebuildPosition | null,
        save: (position) =>
          opened.setNote(REBUILD_NOTE, position === null ? null : JSON.stringify(position)),
      },
    }));
    // Only this replica's keys reach it: a get outside them goes to a learner that holds them
    // (one queue group, merged over subjects by NATS), or finds no responder, never found:false.
    service.addEndpoint("get", {
      subject: publicSubject(config.prefix, "get", config.replicaKeys),
      metadata: { description: "linearizable read" },
      handler: (_err, msg) => void serve(msg, learnerLog, () => role.get(msg)),
    });
    service.addEndpoint("replica-get", {
      subject: publicSubject(config.prefix, "replica-get", config.replicaKeys),
      metadata: { description: "read from the replica alone (may be stale on a miss)" },
      handler: (_err, msg) => void serve(msg, learnerLog, () => role.replicaGet(msg)),
    });
  }

  const repair = store === null ? null :
    new AnnouncementRepair(store, chosenLog, resolve, log.child({ role: "acceptor" }),
      DEFAULT_REPAIR, (event) => learner?.learn(event.key, event.value, event.ballot));
  repair?.start();

  return {
    learner, driver, directReads: direct, admission, readAdmission,
    rebuild: rebuilds === null ? null : rebuilds.run,
    async stop() {
      await service.stop();
      admission?.close();
      readAdmission?.close();
      await repair?.stop();
      rebuilds?.stop();
      await driver.settled();
      tracer.stop();
      learner?.stop();
      replica?.close();
      transport.close();
      await direct?.close();
    },
  };
}

/**
 * Serving readiness: NATS connected; the streams it uses present in JetStream; the learner
 * attached and caught up. The acceptor's state is apart (`votingOf`): a fenced acceptor does
 * not stop its node from serving clients.
 */
async function readiness(
  nc: NatsConnection, natsConnected: boolean, learner: LearnerRole | null,
  jetstream: JetStreamWatch,
): Promise<Readiness> {
  const checks: Record<string, boolean | number | string> = {
    nats: natsConnected && !nc.isClosed(),
    // False while a stream this node uses is gone from JetStream (it is being made again).
    jetstream: jetstream.missing.size === 0,
  };
  if (learner !== null) {
    checks.stream = learner.attached;
    // Messages still to apply: after a restart, how far behind the resumed replica is.
    checks.lag = learner.lag;
    checks.sequence = learner.replica.sequence;
  }
  const ready = Object.entries(checks).every(([name, ok]) =>
    name === "lag" ? ok === 0 : name === "sequence" || ok === true);
  return { ready, checks };
}

/** The acceptor votes: its Redis reachable and durable, and its store the registered one. */
async function votingOf(store: AcceptorStore, membership: AcceptorMembership): Promise<Voting> {
  const durability = await store.durability().catch(() => null);
  const checks = {
    redis: durability !== null,
    redisDurable: durability?.durable ?? false,
    // False while the store is not the registered one (lost state, another Redis, rolled
    // back, a new store recovering, rejoining); then the reason says why.
    acceptorVoting: membership.voting,
  };
  const reason = membership.refusal ?? (durability === null ? "its Redis does not answer"
    : !durability.durable ? "its Redis is not durable"
      // It votes, but not for every key: say which part of it does not.
      : membership.partsLost > 0 ? `${membership.partsLost} buckets of its Redis Cluster ` +
        `store lost their state: their keys do not vote until \`paxoskv acceptor rejoin\``
        : undefined);
  return {
    voting: Object.values(checks).every((ok) => ok),
    ...(reason === undefined ? {} : { reason }),
    ...(durability === null ? {} : { redisVersion: durability.version }),
    checks,
  };
}

/** Announces every value of the replica again, a page at a time (memory stays flat). */
async function reannounce(
  replica: ReplicaStore, chosenLog: ChosenLog, nc: NatsConnection,
): Promise<void> {
  const PAGE = 1000;
  for (let after: string | null = null; ;) {
    const page = replica.page(after, PAGE);
    for (const chosen of page) chosenLog.announceQuietly(chosenEventOf(chosen));
    await nc.flush();
    const last = page.at(-1);
    if (page.length < PAGE || last === undefined) return;
    after = last.key;
  }
}

/** The replica's note of where an unfinished rebuild stopped. */
const REBUILD_NOTE = "rebuild";

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

/**
 * Rebuilds on request (`paxoskv replica rebuild`: every learner answers with its report), at
 * start when configured, and every PAXOSKV_REBUILD_INTERVAL_S. One rebuild at a time: a
 * request during one gets its report. Returns a function that runs one, and one that stops.
 */
function serveRebuild(
  nc: NatsConnection, config: NodeConfig, log: Logger, rebuild: () => Promise<RebuildReport>,
): { run: () => Promise<unknown>; stop: () => void } {
  const attempt = async (): Promise<unknown> => {
    log.info("rebuilding the replica from the acceptors");
    try {
      const report = await rebuild();
      log.info({ ...report }, "replica rebuilt");
      return { ok: true, node: config.nodeId, ...report };
    } catch (err) {
      const code = err instanceof PaxosKvError ? err.code : ErrorCode.INTERNAL;
      log.warn({ err, code }, "replica rebuild failed");
      return errorReply(code, err instanceof Error ? err.message : String(err));
    }
  };
  let running: Promise<unknown> | null = null;
  const run = () => running ??= attempt().finally(() => {
    running = null;
  });
  if (config.rebuildOnStart) void run();
  const periodic = config.rebuildIntervalMs === 0 ? null :
    setInterval(() => void run(), config.rebuildIntervalMs);
  const sub = nc.subscribe(paxosRebuildSubject(config.prefix), {
    callback: (_err, msg) => void run().then((body) => {
      if (msg.reply !== undefined) msg.respond(JSON.stringify(body));
    }),
  });
  return {
    run,
    stop: () => {
      if (periodic !== null) clearInterval(periodic);
      sub.unsubscribe();
    },
  };
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
