import { EMPTY_ACCEPTOR_STATE, onAccept, onPrepare, type AcceptorState } from "../core/acceptor.js";
import { formatBallot } from "../core/ballot.js";
import { LearnerReplica } from "../core/learner.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../core/messages.js";
import {
  onReply, onTick, startProposal, type ProposalOutcome, type ProposalState, type ProposerConfig,
  type ProposerStep,
} from "../core/proposer.js";
import type { Random } from "../core/random.js";
import { formatAccepted, formatMsg } from "./format.js";

type Msg = ProposerToAcceptor | AcceptorToProposer;

interface InFlight {
  readonly from: string;
  readonly to: string;
  readonly msg: Msg;
}

/**
 * A cluster whose every delivery is chosen by a script, so a race can be told step by step.
 * Acceptor nodes also hold a learner, as in the seed's nodes A, B, C. Pure: it only records
 * lines; the caller prints them.
 */
export class ScriptedCluster {
  readonly lines: string[] = [];
  readonly acceptors = new Map<string, AcceptorState>();
  readonly learners = new Map<string, LearnerReplica>();
  readonly outcomes = new Map<string, ProposalOutcome>();
  readonly #proposals = new Map<string, ProposalState>();
  readonly #configs = new Map<string, ProposerConfig>();
  #inFlight: InFlight[] = [];
  #proposalCount = 0;
  now = 0;

  constructor(acceptorIds: readonly string[], private readonly random: Random) {
    for (const id of acceptorIds) {
      this.acceptors.set(id, EMPTY_ACCEPTOR_STATE);
      this.learners.set(id, new LearnerReplica());
    }
  }

  /** A client asks proposer `nodeId` to create `key=value`; the proposer sends Prepare(n). */
  create(client: string, nodeId: string, key: string, value: string): void {
    const config: ProposerConfig = {
      nodeId, acceptors: [...this.acceptors.keys()], phaseTimeoutTicks: 10, backoffBaseTicks: 2,
      backoffMaxTicks: 8, deadlineTicks: 100, roundCountMax: 5,
    };
    this.#configs.set(nodeId, config);
    this.#say(`${client} → ${nodeId}  create ${key}=${value}`);
    this.#apply(nodeId, startProposal(config, key, value, this.now,
      { id: `${nodeId}.${(this.#proposalCount++).toString(36)}` }));
  }

  /** Delivers the oldest in-flight message from → to (of a type, if given). */
  deliver(from: string, to: string, type?: Msg["type"]): void {
    const i = this.#inFlight.findIndex((m) => m.from === from && m.to === to &&
      (type === undefined || m.msg.type === type));
    const env = this.#inFlight[i];
    if (env === undefined) throw new Error(`nothing in flight ${from} → ${to} ${type ?? ""}`);
    this.#inFlight.splice(i, 1);
    this.#say(`${from} → ${to}  ${formatMsg(env.msg)}`);
    if (env.msg.type === "prepare" || env.msg.type === "accept") this.#toAcceptor(env, env.msg);
    else this.#toProposer(to, env.msg);
  }

  /** Delivers everything in flight, oldest first, until the network is quiet. */
  deliverAll(): void {
    for (let env = this.#inFlight[0]; env !== undefined; env = this.#inFlight[0]) {
      this.deliver(env.from, env.to, env.msg.type);
    }
  }

  /** Moves the clock and wakes every proposer that is due (back-off ends, phases time out). */
  advanceTo(now: number): void {
    this.now = now;
    for (const [nodeId, state] of this.#proposals) {
      const config = this.#configs.get(nodeId) as ProposerConfig;
      this.#apply(nodeId, onTick(config, state, now, this.random));
    }
  }

  /** When proposer `nodeId` next wants to be woken, if it is still working. */
  wakeAt(nodeId: string): number | null {
    const state = this.#proposals.get(nodeId);
    return state === undefined || state.phase === "done" ? null : state.wakeAt;
  }

  #toAcceptor(env: InFlight, msg: ProposerToAcceptor): void {
    const before = this.acceptors.get(env.to) ?? EMPTY_ACCEPTOR_STATE;
    const step = msg.type === "prepare" ? onPrepare(before, msg, env.to)
      : onAccept(before, msg, env.to);
    this.acceptors.set(env.to, step.state);
    this.#inFlight.push({ from: env.to, to: env.from, msg: step.reply });
  }

  #toProposer(nodeId: string, msg: AcceptorToProposer): void {
    const state = this.#proposals.get(nodeId);
    const config = this.#configs.get(nodeId);
    if (state === undefined || config === undefined) return;
    this.#apply(nodeId, onReply(config, state, msg, this.now, this.random));
  }

  #apply(nodeId: string, step: ProposerStep): void {
    this.#proposals.set(nodeId, step.state);
    for (const event of step.events) {
      if (event.type === "retry") {
        this.#say(`${nodeId}  rejected at n=${formatBallot(event.ballot)}: back off ` +
          `${event.backoffTicks} ticks, then retry with a higher n`);
      }
      if (event.type === "done") this.#done(nodeId, step.state, event.outcome);
    }
    for (const msg of step.outbox) {
      for (const to of this.acceptors.keys()) this.#inFlight.push({ from: nodeId, to, msg });
    }
  }

  #done(nodeId: string, state: ProposalState, outcome: ProposalOutcome): void {
    this.outcomes.set(nodeId, outcome);
    if (outcome.kind !== "chosen") return this.#say(`${nodeId}  gave up: ${outcome.kind}`);
    this.#say(`${nodeId}  chosen ${state.key}=${outcome.value} n=${formatBallot(outcome.ballot)}` +
      ` (accepted by ${outcome.acceptors.join(", ")}); created=${outcome.value === state.ownValue}`);
    for (const [id, learner] of this.learners) {
      const chosen = { key: state.key, value: outcome.value, ballot: outcome.ballot };
      this.#say(`${nodeId} → ${id}  Learn ${state.key}=${outcome.value}: ` +
        learner.learn(chosen).kind);
    }
  }

  /** One line per node: its acceptor state and what its learner serves. */
  summary(key: string): string[] {
    return [...this.acceptors].map(([id, s]) => `${id}: promised=${formatBallot(s.promised)} ` +
      `accepted=${formatAccepted(s.accepted)}  learner ${key}=${this.learners.get(id)?.get(key)
        ?.value ?? "(none)"}`);
  }

  #say(line: string): void {
    this.lines.push(`t=${this.now}  ${line}`);
  }
}
