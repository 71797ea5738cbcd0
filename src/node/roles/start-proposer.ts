import { nuid } from "@nats-io/transport-node";
import type { AcceptorRegistry } from "../../adapters/jetstream/acceptor-registry.js";
import type { NatsConnection } from "../../adapters/nats/connection.js";
import { NatsPaxosTransport } from "../../adapters/nats/paxos-transport.js";
import { ErrorCode } from "../../protocol/codes.js";
import type { AcceptorReply } from "../../protocol/wire.js";
import type { NodeConfig } from "../infrastructure/config.js";
import { AcceptorRedisReads } from "./direct-reads.js";
import { resolveChosen, type Learned } from "./learner-role.js";
import type { Logger } from "../infrastructure/logger.js";
import type { Metrics } from "../infrastructure/metrics.js";
import { ProposerDriver, type DriverConfig } from "./proposer-driver.js";
import { DirectQuorumReader, QuorumReader, type QuorumReads } from "./quorum-reader.js";
import { Tracer } from "../infrastructure/trace.js";

/** Derives the proposer's limits from the node configuration (ticks are milliseconds). */
export function proposerConfigOf(config: NodeConfig): DriverConfig {
  return {
    nodeId: config.nodeId,
    acceptors: config.acceptors,
    phaseTimeoutTicks: config.phaseTimeoutMs,
    backoffBaseTicks: config.backoffBaseMs,
    backoffMaxTicks: config.backoffMaxMs,
    deadlineTicks: config.proposalDeadlineMs,
    roundCountMax: config.roundsMax,
    fastRecentMs: config.fastRecentMs,
    fastPauseMs: config.fastPauseMs,
  };
}

export interface ProposerDeps {
  readonly nc: NatsConnection;
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** With PAXOSKV_ACCEPTOR_REDIS: the registrations that fence direct reads. */
  readonly registry: AcceptorRegistry | null;
}

export interface RunningProposer {
  /** Runs Basic Paxos rounds: creates, read repairs, a rejoin's recoveries. */
  readonly driver: ProposerDriver;
  readonly tracer: Tracer;
  /**
   * A key's chosen value, or null when a majority holds none: a quorum read, finished by a
   * Paxos round when undecided (`resolveChosen`).
   */
  readonly resolve: (key: string) => Promise<Learned | null>;
  /** The acceptors' Redis read directly (PAXOSKV_ACCEPTOR_REDIS), else null. */
  readonly directReads: AcceptorRedisReads | null;
  /** Resolves once every running proposal has finished. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Paxos rounds and quorum reads. Every node runs them, whatever its roles: the proposer role
 * serves creates with them, a learner repairs reads, an acceptor repairs lost announcements
 * and recovers keys when it rejoins.
 */
export async function startProposer(deps: ProposerDeps): Promise<RunningProposer> {
  const { nc, config, log, metrics } = deps;
  const proposerLog = log.child({ role: "proposer" });
  const replies = new ReplyRouter();
  const transport = new NatsPaxosTransport(nc, config.prefix, config.nodeId,
    (reply) => replies.deliver(reply),
    (reason) => proposerLog.warn({ code: ErrorCode.BAD_REQUEST }, reason));
  const tracer = new Tracer(nc, config.prefix, config.nodeId, config.acceptors);
  tracer.start();
  const driver = new ProposerDriver(proposerConfigOf(config), (m) => transport.send(m), proposerLog,
    [metrics, tracer]);
  // Direct: each acceptor's Redis answers in one round trip, with no NATS hop and no wake-up
  // of the acceptor's process on the way.
  const direct = config.acceptorRedis === undefined || deps.registry === null ? null :
    await AcceptorRedisReads.open({
      urls: config.acceptorRedis, registry: deps.registry, prefix: config.prefix,
      commandTimeoutMs: config.phaseTimeoutMs, log: log.child({ role: "learner" }),
    });
  let reader: QuorumReads;
  if (direct === null) {
    const overNats = new QuorumReader(config.acceptors, (m) => transport.send(m),
      config.phaseTimeoutMs, nuid.next());
    replies.routeTo(driver, overNats);
    reader = overNats;
  } else {
    replies.routeTo(driver, null);
    reader = new DirectQuorumReader(config.acceptors, (id, key) => direct.read(id, key),
      config.phaseTimeoutMs);
  }
  transport.start();

  return {
    driver, tracer, directReads: direct,
    resolve: (key) => resolveChosen(key, reader, driver, (result) => metrics.reads.inc({ result })),
    settled: () => driver.settled(),
    async stop() {
      await driver.settled();
      tracer.stop();
      transport.close();
      await direct?.close();
    },
  };
}

/**
 * The acceptors' replies come back on one subject of this process: Paxos replies to the
 * proposer's rounds, read replies to the quorum reader over NATS. Both send through the
 * transport that receives their replies, so the transport is made with this router, and the
 * router learns where replies go once both exist (before the transport starts).
 */
class ReplyRouter {
  #rounds: Pick<ProposerDriver, "deliver"> | null = null;
  #reads: Pick<QuorumReader, "deliver"> | null = null;

  routeTo(rounds: ProposerDriver, reads: QuorumReader | null): void {
    this.#rounds = rounds;
    this.#reads = reads;
  }

  deliver(reply: AcceptorReply): void {
    if (reply.type === "read-reply") this.#reads?.deliver(reply);
    else this.#rounds?.deliver(reply);
  }
}
