import type { ChosenLog } from "../../adapters/jetstream/chosen-log.js";
import type { NatsConnection } from "../../adapters/nats/connection.js";
import type { ReplicaStore } from "../../adapters/ports.js";
import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import { errorReply } from "../../protocol/replies.js";
import { keyMatchesFilter, paxosListSubject, paxosRebuildSubject } from "../../protocol/subjects.js";
import { WIRE_VERSION } from "../../protocol/wire.js";
import { AnnouncementRepair, DEFAULT_REPAIR } from "./announce-repair.js";
import type { NodeConfig } from "../infrastructure/config.js";
import type { Learned } from "../roles/learner-role.js";
import type { Logger } from "../infrastructure/logger.js";
import {
  listAcceptorPage, listKeysForRecovery, rebuildReplica,
  type RebuildDeps, type RebuildPosition, type RebuildReport,
} from "./rebuild.js";
import type { RunningAcceptor } from "../roles/start-acceptor.js";
import type { RunningLearner } from "../roles/start-learner.js";
import type { RunningProposer } from "../roles/start-proposer.js";

export interface RepairDeps {
  readonly nc: NatsConnection;
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly chosenLog: ChosenLog;
  readonly proposer: RunningProposer;
  readonly acceptor: RunningAcceptor | null;
  readonly learner: RunningLearner | null;
  /** A value a rebuild found reaches this node's learner and the chosen stream. */
  readonly announce: (learned: Learned) => void;
}

export interface RunningRepair {
  /** Rebuilds the learner's replica from the acceptors (null without the learner role). */
  readonly rebuild: (() => Promise<unknown>) | null;
  stop(): Promise<void>;
}

/**
 * What brings state back where it went missing: an acceptor repairs the announcements its
 * proposers did not make and recovers its keys when it rejoins; a learner rebuilds its
 * replica from the acceptors.
 */
export function startRepair(deps: RepairDeps): RunningRepair {
  const { nc, config, proposer, acceptor, learner } = deps;
  const repair = acceptor === null ? null :
    new AnnouncementRepair(acceptor.store, deps.chosenLog, proposer.resolve,
      deps.log.child({ role: "acceptor" }), DEFAULT_REPAIR, learner?.role ?? null);
  repair?.start();
  const rebuilds = learner === null ? null : serveRebuild(nc, config,
    deps.log.child({ role: "learner" }), (pace) => rebuildReplica({
      acceptors: config.acceptors,
      listPage: (id, cursor) =>
        listAcceptorPage(nc, config.prefix, id, cursor, config.requestTimeoutMs),
      wanted: (key) => keyMatchesFilter(config.replicaKeys, key),
      has: (key) => learner.role.replica.get(key) !== undefined,
      resolve: proposer.resolve, learn: deps.announce,
      position: rebuildPosition(learner.role.replica),
      ...pace === null ? {} : { pace: { keysPerSecond: config.rebuildKeysPerSecond, ...pace } },
    }));
  acceptor?.membership.serveRejoin({
    listKeys: (id) => listKeysForRecovery(nc, config.prefix, id, config.requestTimeoutMs),
    // This node's own acceptor role is stopped, so any answer comes from another process.
    servedElsewhere: () => nc.request(paxosListSubject(config.prefix, config.nodeId),
      JSON.stringify({ v: WIRE_VERSION, cursor: "0", count: 1 }),
      { timeout: config.phaseTimeoutMs }).then(() => true, () => false),
    recover: (key) => proposer.driver.recover(key),
  });
  return {
    rebuild: rebuilds === null ? null : rebuilds.run,
    async stop() {
      await repair?.stop();
      rebuilds?.stop();
    },
  };
}

/** The replica's note of where an unfinished rebuild stopped. */
const REBUILD_NOTE = "rebuild";

function rebuildPosition(replica: ReplicaStore): RebuildDeps["position"] {
  return {
    load: () => JSON.parse(replica.note(REBUILD_NOTE) ?? "null") as RebuildPosition | null,
    save: (position) =>
      replica.setNote(REBUILD_NOTE, position === null ? null : JSON.stringify(position)),
  };
}

/**
 * Rebuilds on request (`paxoskv replica rebuild`: every learner answers with its report), at
 * start when configured, and PAXOSKV_REBUILD_INTERVAL_S after the last periodic one ended,
 * paced (PAXOSKV_REBUILD_KEYS_PER_S) so that its cost per second does not grow with the keys.
 * One rebuild at a time: a request during one gets its report. Returns a function that runs
 * one, and one that stops.
 */
function serveRebuild(
  nc: NatsConnection, config: NodeConfig, log: Logger,
  rebuild: (pace: { lifted: () => boolean } | null) => Promise<RebuildReport>,
): { run: () => Promise<unknown>; stop: () => void } {
  let lifted = false;
  const attempt = async (paced: boolean): Promise<unknown> => {
    log.info({ paced }, "rebuilding the replica from the acceptors");
    lifted = false;
    try {
      const report = await rebuild(paced ? { lifted: () => lifted } : null);
      log.info({ ...report }, "replica rebuilt");
      return { ok: true, node: config.nodeId, ...report };
    } catch (err) {
      const code = err instanceof PaxosKvError ? err.code : ErrorCode.INTERNAL;
      log.warn({ err, code }, "replica rebuild failed");
      return errorReply(code, err instanceof Error ? err.message : String(err));
    }
  };
  let running: Promise<unknown> | null = null;
  const start = (paced: boolean) => running ??= attempt(paced).finally(() => {
    running = null;
  });
  // A request that finds a periodic pass running lifts its pace and then runs a pass of its
  // own: the running one may have listed past keys chosen since it began, hours ago.
  const run = () => {
    lifted = true;
    const joined = running;
    return joined === null ? start(false) : joined.then(() => start(false));
  };
  if (config.rebuildOnStart) void run();
  // The next periodic pass is timed from the end of the last one: passes never run back to
  // back, however long the keys make them.
  let periodic: NodeJS.Timeout | null = null;
  let stopped = false;
  const schedule = () => {
    if (config.rebuildIntervalMs === 0 || stopped) return;
    periodic = setTimeout(() => void start(true).finally(schedule), config.rebuildIntervalMs);
  };
  schedule();
  const sub = nc.subscribe(paxosRebuildSubject(config.prefix), {
    callback: (_err, msg) => void run().then((body) => {
      if (msg.reply !== undefined) msg.respond(JSON.stringify(body));
    }),
  });
  return {
    run,
    stop: () => {
      stopped = true;
      if (periodic !== null) clearTimeout(periodic);
      sub.unsubscribe();
    },
  };
}
