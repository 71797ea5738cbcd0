import { Svcm, type Service } from "@nats-io/services";
import type { NatsConnection } from "../../adapters/nats/connection.js";
import { publicSubject, publicWildcard } from "../../protocol/subjects.js";
import { wireBytesMax } from "../../protocol/wire.js";
import { admissionOf, type FairAdmission } from "./admission.js";
import type { NodeConfig } from "../infrastructure/config.js";
import { handleCreate } from "./create-endpoint.js";
import { serve } from "./endpoint.js";
import type { Learned } from "./learner-role.js";
import type { Logger } from "../infrastructure/logger.js";
import type { Metrics } from "../infrastructure/metrics.js";
import type { RunningProposer } from "./start-proposer.js";
import type { RunningLearner } from "./start-learner.js";

export const SERVICE_NAME = "paxoskv";
export const SERVICE_VERSION = "0.1.0";
/** Client endpoints run in one queue group: each request is answered by one node. */
export const SERVICE_QUEUE = "paxoskv";

export interface ClientEndpointsDeps {
  readonly nc: NatsConnection;
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly proposer: RunningProposer;
  /** This node's learner: its replica answers gets, and creates of keys it holds. */
  readonly learner: RunningLearner | null;
  /** A create's chosen value reaches this node's learner and the chosen stream. */
  readonly announce: (learned: Learned) => void;
}

export interface RunningClientEndpoints {
  /** The door of creates (null without the proposer role). */
  readonly createAdmission: FairAdmission | null;
  /** Stops taking requests and refuses the creates waiting at the door. */
  stop(): Promise<void>;
}

/**
 * The public endpoints, in one NATS micro service: `create` with the proposer role, `get` and
 * `replica-get` with the learner role.
 */
export async function startClientEndpoints(
  deps: ClientEndpointsDeps,
): Promise<RunningClientEndpoints> {
  const { nc, config, learner } = deps;
  const service: Service = await new Svcm(nc).add({
    name: SERVICE_NAME, version: SERVICE_VERSION, queue: SERVICE_QUEUE,
    description: "paxoskv: a write-once key-value store on Basic Paxos",
    metadata: { node: config.nodeId, roles: config.roles.join(",") },
    statsHandler: () => Promise.resolve(learner === null ? null :
      { replicaSize: learner.role.replica.size, lag: learner.role.lag }),
  });
  const createAdmission = config.roles.includes("proposer")
    ? serveCreate(service, deps) : null;
  if (learner !== null) {
    const log = deps.log.child({ role: "learner" });
    const { role } = learner;
    // Only this replica's keys reach it: a get outside them goes to a learner that holds them
    // (one queue group, merged over subjects by NATS), or finds no responder, never found:false.
    service.addEndpoint("get", {
      subject: publicSubject(config.prefix, "get", config.replicaKeys),
      metadata: { description: "linearizable read" },
      handler: (_err, msg) => void serve(msg, log, () => role.get(msg)),
    });
    service.addEndpoint("replica-get", {
      subject: publicSubject(config.prefix, "replica-get", config.replicaKeys),
      metadata: { description: "read from the replica alone (may be stale on a miss)" },
      handler: (_err, msg) => void serve(msg, log, () => role.replicaGet(msg)),
    });
  }
  return {
    createAdmission,
    async stop() {
      await service.stop();
      createAdmission?.close();
    },
  };
}

/** `create`: answered from the learner's replica when it holds the key, else by Paxos. */
function serveCreate(service: Service, deps: ClientEndpointsDeps): FairAdmission {
  const { nc, config, metrics, proposer, learner } = deps;
  const log = deps.log.child({ role: "proposer" });
  const admission = admissionOf("create", config, metrics);
  service.addEndpoint("create", {
    subject: publicWildcard(config.prefix, "create"),
    metadata: { description: "create a key once: the body is the value" },
    handler: (_err, msg) => void serve(msg, log, () => handleCreate(msg, {
      prefix: config.prefix, valueBytesMax: config.valueBytesMax,
      wireBytesMax: wireBytesMax(nc.info?.max_payload),
      known: (key) => learner?.role.replica.get(key)?.value,
      propose: (key, value, onStart, fresh) => proposer.driver.propose(key, value, onStart, fresh),
      admit: (source) => admission.enter(source),
      announce: deps.announce, metrics, tracer: proposer.tracer,
    })),
  });
  return admission;
}
