import type { AcceptorState } from "../../src/core/acceptor.js";
import type { Ballot } from "../../src/core/ballot.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../../src/core/messages.js";
import type { ProposalState, ProposerConfig } from "../../src/core/proposer.js";
import { randomInt, type Random } from "../../src/core/random.js";
import { formatMsg } from "../../src/sim/format.js";
import type { SimCore } from "./core.js";
import type { Envelope, SimMsg } from "./network.js";
import type { SimOptions } from "./options.js";

export interface Acceptor {
  readonly id: string;
  up: boolean;
  /** A paused acceptor handles nothing before this tick (see `SimOptions.pausePct`). */
  pausedUntil: number;
  /** Set while the acceptor, its state lost, stays out until its rejoin has finished. */
  rejoin: Rejoin | null;
  /** Durable state, the only thing that survives a crash (Redis with AOF in the real system). */
  readonly store: Map<string, AcceptorState>;
}

/**
 * A rejoining acceptor's recovery, with the node's rules (`src/core/rejoin.ts`: which keys,
 * what an outcome installs): wait until no phase that could have used the lost promises is
 * still running, list the keys of enough of the other acceptors, run a recovery proposal (no
 * value of its own) for each, install the results.
 */
export interface Rejoin {
  /** When the acceptor lost its state plus the phase timeout: the scan may start then. */
  readonly scanAt: number;
  /** The recovery proposer (the acceptor's own node ID makes its ballots). */
  proposer: ProposerNode | null;
  /** Keys still to recover; null before the scan. */
  pending: Set<string> | null;
  readonly recovered: Map<string, AcceptorState>;
}

/**
 * A client's create request: retried, as a client would, until its key is chosen. With
 * `valueVariety` each try proposes another value, as another client creating the same key
 * through the same node would.
 */
export interface Create {
  readonly key: string;
  /** The value of the first try. */
  readonly base: string;
  /** The value of the current try. */
  value: string;
  nextTryAt: number | null;
  result: string | null;
  tries: number;
  /** Creates the client will send again after success: retrying a create is always safe. */
  repeats: number;
}

export interface ProposerNode {
  readonly id: string;
  readonly config: ProposerConfig;
  readonly creates: Map<string, Create>;
  /** At most one proposal in flight per key. */
  readonly proposals: Map<string, ProposalState>;
  /**
   * The highest classic ballot this process has used per key (as the node's proposer driver
   * keeps it, `ballotFloor`): a new proposal of the key goes above it. Lost on a crash.
   */
  readonly floors: Map<string, Ballot>;
  /** The proposer's clock is the tick plus this skew; ballots start from it (a timestamp). */
  skew: number;
}

export const ACCEPTOR_IDS = ["A", "B", "C", "D", "E"];
export const LEARNER_IDS = ["L1", "L2"];
export const KEYS = ["X", "Y", "Z", "W"];
/** P1 proposes 3, P2 proposes 7, ...: client 1's X=3 against client 2's X=7. */
export const valueOf = (proposer: number): string => String(3 + 4 * proposer);

/** A simulated proposer's limits (clients' proposers and rejoin recoveries alike). */
export function simProposerConfig(
  nodeId: string, acceptors: readonly string[], o: SimOptions,
): ProposerConfig {
  return {
    nodeId, acceptors, phaseTimeoutTicks: o.phaseTimeoutTicks, backoffBaseTicks: 3,
    backoffMaxTicks: 40, deadlineTicks: 6 * o.phaseTimeoutTicks, roundCountMax: 4,
  };
}

/** Proposer `index` (P1, P2, ...) with one create per key its client races on. */
export function proposerNode(
  index: number, acceptorIds: string[], o: SimOptions, core: SimCore, random: Random,
): ProposerNode {
  const config = simProposerConfig(`P${index + 1}`, core.acceptorsOf(acceptorIds, index), o);
  const creates = new Map<string, Create>();
  o.racers.forEach((racers, k) => {
    if (!racers.includes(index)) return;
    const key = KEYS[k] as string;
    // Clients start within a round trip or two of each other, so they really race.
    const startAt = randomInt(random, 2 * o.delayTicksMax + 3);
    creates.set(key, { key, base: valueOf(index), value: valueOf(index), nextTryAt: startAt,
      result: null, tries: 0,
      repeats: randomInt(random, 4) });
  });
  return { id: config.nodeId, config, creates, proposals: new Map(), floors: new Map(),
    skew: randomInt(random, 30) };
}

export function describe(env: Envelope): string {
  return `${env.from} → ${env.to}  ${formatSimMsg(env.msg)}`;
}

export function formatSimMsg(msg: SimMsg): string {
  if (msg.type === "learn") return `Learn ${msg.key}=${msg.value}`;
  return formatMsg(msg as ProposerToAcceptor | AcceptorToProposer);
}

export function formatPartition(sides: Map<string, number>): string {
  const side = (s: number): string => [...sides].filter(([, v]) => v === s).map(([k]) => k)
    .join(",");
  return `[${side(0)}] | [${side(1)}]`;
}
