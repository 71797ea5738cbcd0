import type { NatsConnection } from "../../adapters/nats/connection.js";
import type { Readiness } from "../../protocol/readiness.js";
import { STATUS_VERSION } from "../../protocol/status.js";
import type { NodeConfig } from "./config.js";
import { startHttp, type MountPage } from "./http.js";
import type { JetStreamWatch } from "./jetstream-watch.js";
import type { LearnerRole } from "../roles/learner-role.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { RunningAcceptor } from "../roles/start-acceptor.js";
import { SERVICE_VERSION, type RunningClientEndpoints } from "../roles/start-client-endpoints.js";
import type { RunningLearner } from "../roles/start-learner.js";
import type { RunningProposer } from "../roles/start-proposer.js";
import { serveStatus, type AcceptorVotingView } from "./status.js";

/** What a node says of itself, over NATS and on its HTTP port. */
export interface StatusDeps {
  readonly nc: NatsConnection;
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Serving readiness (`readiness` below, over this node's parts). */
  readonly readiness: () => Promise<Readiness>;
  readonly votingView: AcceptorVotingView;
  readonly acceptor: RunningAcceptor | null;
  readonly proposer: RunningProposer;
  readonly learner: RunningLearner | null;
  readonly endpoints: RunningClientEndpoints;
  /** The web page served beside the health routes (none when absent). */
  readonly page: MountPage | undefined;
}

/**
 * Serving readiness: NATS connected; the streams it uses present in JetStream; the learner
 * attached and caught up. The acceptor's state is apart (`RunningAcceptor.voting`): a fenced
 * acceptor does not stop its node from serving clients.
 */
export async function readiness(
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

/** Answers `paxoskv status` with this node's status; returns its stop. */
export function startStatus(deps: StatusDeps): () => void {
  const { nc, config, acceptor, votingView } = deps;
  const startedAt = performance.now();
  return serveStatus(nc, config.prefix, async () => {
    const [ready, own] = await Promise.all([deps.readiness(), acceptor?.voting() ?? null]);
    return {
      v: STATUS_VERSION, node: config.nodeId, roles: [...config.roles], version: SERVICE_VERSION,
      uptimeS: Math.round((performance.now() - startedAt) / 1000), ready: ready.ready,
      checks: { ...ready.checks, ...own?.checks },
      ...(own === null || acceptor === null ? {} : { acceptor: {
        id: acceptor.membership.id, voting: own.voting,
        ...(own.reason === undefined ? {} : { reason: own.reason }),
      } }),
      acceptors: votingView.all(),
    };
  });
}

/**
 * The HTTP port (PAXOSKV_HTTP_PORT): health, voting, metrics, and the page the CLI mounts.
 * Returns its stop.
 */
export async function startHttpPort(port: number, deps: StatusDeps): Promise<() => Promise<void>> {
  const { nc, config, log, acceptor } = deps;
  const page = deps.page?.({
    nc, prefix: config.prefix, acceptors: config.acceptors,
    connect: { servers: config.natsServers, user: config.natsUser, password: config.natsPassword,
      tls: config.natsTls },
    self: { node: config.nodeId, roles: config.roles, readiness: deps.readiness },
    onError: (what, err) => log.warn({ err }, `web page: ${what} failed`),
    race: config.pageRace,
  });
  const server = await startHttp(port, {
    other: (path, req, res) => page?.route(path, req, res) ?? false,
    readiness: deps.readiness,
    ...(acceptor === null ? {} : { voting: () => acceptor.voting() }),
    metrics: () => metricsText(deps),
  }, log);
  return () => {
    page?.close(); // open trace feeds would keep server.close() waiting
    return new Promise((resolve) => server.close(() => resolve()));
  };
}

/** `/metrics`: the gauges read at scrape time, then the whole exposition. */
async function metricsText(deps: StatusDeps): Promise<string> {
  const { nc, config, metrics, acceptor, learner } = deps;
  const [ready, own] = await Promise.all([deps.readiness(), acceptor?.voting() ?? null]);
  metrics.natsConnected.set(ready.checks.nats === true ? 1 : 0);
  if (own !== null) metrics.redisUp.set(own.checks.redis === true ? 1 : 0);
  if (acceptor !== null) metrics.acceptorBucketsLost.set(acceptor.membership.partsLost);
  metrics.acceptorsConfigured.set(config.acceptors.length);
  for (const [id, state] of Object.entries(deps.votingView.all())) {
    metrics.acceptorVoting.set({ acceptor: id }, state === "voting" ? 1 : 0);
  }
  metrics.buildInfo.set({ version: SERVICE_VERSION, nodejs: process.versions.node,
    nats_server: nc.info?.version ?? "unknown", redis: own?.redisVersion ?? "none" }, 1);
  metrics.admissionQueued.set({ op: "create" }, deps.endpoints.createAdmission?.queued ?? 0);
  metrics.admissionQueued.set({ op: "get" }, learner?.readAdmission.queued ?? 0);
  for (const [id, up] of deps.proposer.directReads?.reachable() ?? []) {
    metrics.quorumReadRedisUp.set({ acceptor: id }, up ? 1 : 0);
  }
  if (learner !== null) {
    metrics.learnerLag.set(learner.role.lag);
    metrics.learnerSequence.set(learner.role.replica.sequence);
    metrics.replicaKeys.set(learner.role.replica.size);
  }
  return metrics.text();
}
