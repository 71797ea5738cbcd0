import type { ChosenLog } from "../../adapters/jetstream/chosen-log.js";
import type { AcceptorMaintenanceStore, ReplicaStore } from "../../adapters/ports.js";
import { admissionOf, type FairAdmission } from "./admission.js";
import { AnnouncedBatcher } from "../repair/announce-repair.js";
import type { NodeConfig } from "../infrastructure/config.js";
import { LearnerRole, type Learned } from "./learner-role.js";
import type { Logger } from "../infrastructure/logger.js";
import type { Metrics } from "../infrastructure/metrics.js";

export interface LearnerDeps {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly chosenLog: ChosenLog;
  /** The replica on disk, opened by `startNode` (a bad data directory fails before connecting). */
  readonly replica: ReplicaStore;
  /** A key's chosen value when the replica misses (the proposer's quorum read). */
  readonly resolve: (key: string) => Promise<Learned | null>;
  /** Announces on the chosen stream a value a miss found (the learner has learned it). */
  readonly announce: (learned: Learned) => void;
  /** This node's acceptor store, told which keys the stream holds (null: no acceptor here). */
  readonly acceptorStore: Pick<AcceptorMaintenanceStore, "markAnnounced"> | null;
  /**
   * Resolves once the proposals running now have finished: at stop, what they choose still
   * reaches this replica before it closes.
   */
  readonly proposalsSettled: () => Promise<void>;
}

export interface RunningLearner {
  readonly role: LearnerRole;
  /** The door of get misses' quorum reads. */
  readonly readAdmission: FairAdmission;
  /**
   * Refuses the gets waiting at its door, lets the running proposals finish, stops following
   * and closes the replica.
   */
  stop(): Promise<void>;
}

/** The learner role: the replica followed from the chosen stream, serving gets. */
export function startLearner(deps: LearnerDeps): RunningLearner {
  const { config, metrics, replica } = deps;
  const log = deps.log.child({ role: "learner" });
  const seen = deps.acceptorStore === null ? null : new AnnouncedBatcher(deps.acceptorStore, log);
  const reads = admissionOf("get", config, metrics);
  log.info({ dataDir: config.dataDir, sequence: replica.sequence, size: replica.size },
    "replica opened");
  const role = new LearnerRole(config.prefix, deps.chosenLog, replica, config.replicaKeys,
    deps.resolve, deps.announce, (key) => {
      seen?.add(key);
      metrics.streamed(key);
    }, log, (result) => metrics.reads.inc({ result }), (source) => reads.enter(source));
  role.start();
  return {
    role, readAdmission: reads,
    async stop() {
      reads.close();
      await deps.proposalsSettled();
      role.stop();
      await seen?.stop();
      replica.close();
    },
  };
}
