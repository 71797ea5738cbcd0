import type { AcceptorRegistry } from "../../adapters/jetstream/acceptor-registry.js";
import type { NatsConnection } from "../../adapters/nats/connection.js";
import type { AcceptorFencedError, AcceptorStore } from "../../adapters/ports.js";
import { AcceptorMembership } from "./acceptor-membership.js";
import { AcceptorRole } from "./acceptor-role.js";
import type { NodeConfig } from "../infrastructure/config.js";
import type { Voting } from "../infrastructure/http.js";
import type { Logger } from "../infrastructure/logger.js";
import type { Metrics } from "../infrastructure/metrics.js";
import { startVotingBeat } from "../infrastructure/status.js";

export interface AcceptorDeps {
  readonly nc: NatsConnection;
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Where the acceptor claims its ID, and records its write mark. */
  readonly registry: AcceptorRegistry;
  readonly openStore: (config: NodeConfig, log: Logger) => Promise<AcceptorStore>;
}

export interface RunningAcceptor {
  /** Whether the store votes; serves rejoins once the proposer runs (`startRepair`). */
  readonly membership: AcceptorMembership;
  readonly store: AcceptorStore;
  /** Whether it votes now, and why not: `/votingz`, the status answer, the metrics. */
  voting(): Promise<Voting>;
  /** Stops its beat and its role, records its write mark, closes its store. */
  stop(): Promise<void>;
}

/**
 * The acceptor role: its store, the role answering Paxos messages, the membership that lets
 * it vote only as the registered store, and the beat that tells every node whether it votes.
 */
export async function startAcceptor(deps: AcceptorDeps): Promise<RunningAcceptor> {
  const { nc, config, metrics } = deps;
  const log = deps.log.child({ role: "acceptor" });
  const store = await deps.openStore(config, log);
  const gate = new MembershipGate();
  const role = new AcceptorRole(nc, config.prefix, store, log, metrics,
    (err) => gate.fenced(err), () => gate.mayAnswer());
  const membership = new AcceptorMembership({
    nc, prefix: config.prefix, store, registry: deps.registry, role, acceptors: config.acceptors,
    log, phaseTimeoutMs: config.phaseTimeoutMs, leaseMs: config.acceptorLeaseMs,
  });
  gate.open(membership);
  try {
    await membership.start();
  } catch (err) {
    // Its claim may have started the role and its watch: nothing of it outlives the failure.
    await membership.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  const stopBeat = startVotingBeat(nc, config.prefix, membership.id, () => ({
    voting: membership.voting,
    ...(membership.refusal === null ? {} : { reason: membership.refusal }),
  }));
  return {
    membership, store,
    voting: () => votingOf(store, membership),
    async stop() {
      stopBeat();
      await membership.stop();
      await store.close();
    },
  };
}

/**
 * What the acceptor role asks of its membership: whether it may answer, and that its store
 * refused a message. The membership starts and stops the role, so it is made after the role;
 * the role gets this gate, opened onto the membership before the role ever starts.
 */
class MembershipGate {
  #membership: AcceptorMembership | null = null;

  open(membership: AcceptorMembership): void {
    this.#membership = membership;
  }

  mayAnswer(): boolean {
    return this.#membership?.leaseHolds() ?? false;
  }

  fenced(err: AcceptorFencedError): void {
    this.#membership?.fenced(err);
  }
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
