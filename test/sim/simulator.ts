import { EMPTY_ACCEPTOR_STATE } from "../../src/core/acceptor.js";
import { formatBallot, type Ballot } from "../../src/core/ballot.js";
import { LearnerReplica, classifyQuorumRead } from "../../src/core/learner.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../../src/core/messages.js";
import {
  ballotFloor, nextWakeAt, type ProposalOutcome, type ProposerStep,
} from "../../src/core/proposer.js";
import { recoveredState } from "../../src/core/rejoin.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import { Observer, Violation } from "./checker.js";
import { coreWith, type SimCore } from "./core.js";
import {
  Network, chain, delaying, duplicating, lossy, partitioned, type Envelope, type Faults,
} from "./network.js";
import {
  ACCEPTOR_IDS, KEYS, LEARNER_IDS, describe, formatPartition, formatSimMsg, proposerNode,
  simProposerConfig,
  type Acceptor, type Create, type ProposerNode, type Rejoin,
} from "./nodes.js";
import { scenarioName, type SimOptions } from "./options.js";
import type { TraceEvent } from "../../src/protocol/trace.js";

export type Trace = (line: string) => void;
/** Receives the run as the nodes' tracers would publish it (`npm run sim -- --export`). */
export type TraceRecorder = (event: TraceEvent) => void;

export interface SimResult {
  readonly seed: number;
  readonly scenario: string;
  /** The first violation, or null when the run kept every property. */
  readonly violation: string | null;
  /** The tick the run stopped at: all decided, or the violation. */
  readonly tick: number;
  readonly delivered: number;
  readonly rounds: number;
}

/** Runs one seeded scenario: faults until `healAt`, then a healed network until all decide. */
export function runSimulation(options: SimOptions, trace?: Trace, record?: TraceRecorder): SimResult {
  const sim = new Simulation(options, trace, record);
  let violation: string | null = null;
  try {
    sim.run();
  } catch (error) {
    // A core assertion is a finding too: report it with the seed rather than lose the seed.
    if (!(error instanceof Error)) throw error;
    violation = error instanceof Violation ? error.message : `${error.name}: ${error.message}`;
  }
  return {
    seed: options.seed, scenario: scenarioName(options), violation, tick: sim.now,
    delivered: sim.delivered, rounds: sim.rounds,
  };
}

class Simulation {
  now = 0;
  delivered = 0;
  rounds = 0;
  readonly #o: SimOptions;
  readonly #core: SimCore;
  readonly #random: Random;
  readonly #trace: Trace | undefined;
  readonly #faults: Faults;
  readonly #net: Network;
  readonly #observer: Observer;
  readonly #acceptors: Acceptor[];
  readonly #proposers: ProposerNode[];
  readonly #learners = new Map(LEARNER_IDS.map((id) => [id, new LearnerReplica()]));
  readonly #record: TraceRecorder | undefined;
  /** The trace ID of each proposer's running proposal per key (`P1-0`, `P1-1`, ...). */
  readonly #traceIds = new Map<string, string>();
  #proposalCount = 0;
  #proposalIds = 0;

  constructor(options: SimOptions, trace: Trace | undefined, record?: TraceRecorder) {
    this.#o = options;
    this.#record = record;
    this.#core = coreWith(options.bug);
    // Its own stream, so changing an option (a planted bug) keeps the same seed comparable.
    this.#random = seededRandom(options.seed ^ 0x5eed5eed);
    this.#trace = trace;
    this.#faults = {
      lossPct: options.lossPct, dupPct: options.dupPct, delayTicksMax: options.delayTicksMax,
      partition: null,
    };
    const proxy = chain(partitioned(this.#faults), lossy(this.#faults),
      duplicating(this.#faults), delaying(this.#faults));
    this.#net = new Network(proxy, this.#random, (kind, env, why) => {
      this.#log(() => `${kind} ${describe(env)} (${why})`);
      this.#recordLoss(env, kind === "drop" ? `lost ${formatSimMsg(env.msg)} (${why})` :
        `duplicated ${env.from} → ${env.to} ${formatSimMsg(env.msg)}`, kind === "drop");
    });
    this.#observer = new Observer(options.acceptorCount, options.checkAcceptorRules);
    const ids = ACCEPTOR_IDS.slice(0, options.acceptorCount);
    this.#acceptors = ids.map((id) => ({ id, up: true, pausedUntil: 0, rejoin: null, store: new Map() }));
    this.#proposers = Array.from({ length: options.proposerCount }, (_, i) =>
      proposerNode(i, ids, options, this.#core, this.#random));
    this.#log(() => `scenario ${scenarioName(options)} seed=${options.seed} ` +
      `healAt=${options.healAt} phaseTimeout=${options.phaseTimeoutTicks}`);
  }

  run(): void {
    this.#initialFaults();
    const deadline = this.#o.healAt + this.#o.livenessTicks;
    for (; !this.#decided(); this.now++) {
      if (this.now > deadline) this.#livenessFailure();
      if (this.now < this.#o.healAt) this.#maybeFault();
      if (this.now === this.#o.healAt) this.#heal();
      this.#startDueCreates();
      this.#stepRejoins();
      for (const env of this.#net.take(this.now)) this.#deliver(env);
      this.#tickProposers();
      if (this.#random.next() < 0.05) this.#quorumRead();
    }
    this.#checkLearners();
    this.#log(() => `decided: ${[...this.#observer.chosen].map(([k, c]) =>
      `${k}=${c.value}`).join(" ")}`);
  }

  /** Every learner ends with every chosen value (it was told each one as it was learned). */
  #checkLearners(): void {
    for (const [id, learner] of this.#learners) {
      for (const [key, chosen] of this.#observer.chosen) {
        const held = learner.get(key)?.value;
        if (held !== chosen.value) {
          throw new Violation(`${key}: learner ${id} holds ${held ?? "nothing"}, chosen is ` +
            chosen.value);
        }
      }
    }
  }

  #decided(): boolean {
    if (this.now <= this.#o.healAt) return false;
    if (this.#acceptors.some((a) => a.rejoin !== null)) return false;
    for (const p of this.#proposers) {
      if (p.proposals.size > 0) return false;
      for (const c of p.creates.values()) if (c.result === null || c.nextTryAt !== null) return false;
    }
    for (const learner of this.#learners.values()) {
      if (learner.size < this.#observer.chosen.size) return false;
    }
    return true;
  }

  #livenessFailure(): never {
    const pending = this.#proposers.flatMap((p) => [...p.creates.values()]
      .filter((c) => c.result === null).map((c) => `${p.id}/${c.key} (tries ${c.tries})`));
    throw new Violation(`liveness: healed at t=${this.#o.healAt}, still undecided after ` +
      `${this.#o.livenessTicks} ticks: ${pending.join(", ") || "learners behind"}`);
  }

  /** About one fault every 25 ticks: crash or restart an acceptor, split or rejoin the network. */
  #maybeFault(): void {
    if (this.#random.next() >= 0.04) return;
    const o = this.#o;
    if (o.crashes && (!o.partitions || this.#random.next() < 0.5)) {
      if (this.#random.next() < 0.3) return this.#crashProposer();
      const acceptor = this.#acceptors[randomInt(this.#random, this.#acceptors.length)] as Acceptor;
      if (acceptor.rejoin !== null) return;
      if (o.amnesia && this.#random.next() < 0.3) return this.#loseState(acceptor);
      if (acceptor.up) this.#crash(acceptor, "");
      else this.#restart(acceptor);
    } else if (o.partitions) {
      this.#faults.partition = this.#faults.partition === null ? this.#split() : null;
      this.#log(() => this.#faults.partition === null ? "partition healed" :
        `partition ${formatPartition(this.#faults.partition)}`);
      this.#fault("", this.#faults.partition === null ? "partition healed" :
        `partition ${formatPartition(this.#faults.partition)}`);
    }
  }

  /** Faults from the first tick: some acceptors down, the network already split. */
  #initialFaults(): void {
    if (this.#o.crashes) {
      for (const a of this.#acceptors) if (this.#random.next() < 0.3) this.#crash(a, "");
    }
    if (this.#o.partitions && this.#random.next() < 0.5) {
      this.#faults.partition = this.#split();
      this.#log(() => `partition ${formatPartition(this.#faults.partition ?? new Map())}`);
      this.#fault("", `partition ${formatPartition(this.#faults.partition)}`);
    }
  }

  #split(): Map<string, number> {
    const nodes = [...this.#acceptors.map((a) => a.id), ...this.#proposers.map((p) => p.id)];
    return new Map(nodes.map((id) => [id, randomInt(this.#random, 2)]));
  }

  #heal(): void {
    // Duplicates and reordering stay: they cost retries, never progress.
    this.#faults.lossPct = 0;
    this.#faults.partition = null;
    for (const acceptor of this.#acceptors) {
      if (!acceptor.up && acceptor.rejoin === null) this.#restart(acceptor);
    }
    this.#log(() => "heal (no loss, no partition, every acceptor up or rejoining)");
    this.#fault("", "heal: no loss, no partition, every acceptor up or rejoining");
  }

  #crash(acceptor: Acceptor, why: string): void {
    acceptor.up = false;
    this.#log(() => `crash ${acceptor.id}${why}`);
    this.#fault(acceptor.id, `crash ${acceptor.id}${why}`);
  }

  /**
   * A proposer restarts at once with nothing remembered, and its clock may have stepped back:
   * it can reuse a ballot it sent before, which the acceptors' "n > promised" must make safe.
   * Its clients hear nothing and retry later.
   */
  #crashProposer(): void {
    const node = this.#proposers[randomInt(this.#random, this.#proposers.length)] as ProposerNode;
    node.skew = Math.max(0, node.skew - randomInt(this.#random, 40));
    this.#log(() => `crash ${node.id}: restarts with no proposals, no ballots seen, clock ` +
      `skew ${node.skew}`);
    this.#fault(node.id, `crash ${node.id}: restarts with no proposals, clock skew ${node.skew}`);
    for (const key of node.proposals.keys()) {
      const create = node.creates.get(key) as Create;
      create.nextTryAt = this.now + 1 + randomInt(this.#random, 30);
    }
    node.proposals.clear();
    node.floors.clear();
  }

  /**
   * The acceptor's store is wiped (its Redis lost its data) and it restarts empty. It must not
   * vote until its rejoin recovered every key; one rejoin at a time, as losing the state of
   * more acceptors than a minority is beyond what any majority protocol survives.
   */
  #loseState(acceptor: Acceptor): void {
    if (this.#acceptors.some((a) => a.rejoin !== null)) return;
    const lost = acceptor.store.size;
    acceptor.store.clear();
    acceptor.up = false;
    acceptor.rejoin = {
      scanAt: this.now + this.#o.phaseTimeoutTicks, proposer: null, pending: null,
      recovered: new Map(),
    };
    this.#log(() => `amnesia ${acceptor.id}: its store is wiped (${lost} key(s) lost)`);
    this.#fault(acceptor.id, `amnesia ${acceptor.id}: its store is wiped (${lost} key(s) lost)`);
    if (this.#o.bug === "rejoin-without-recovery") {
      acceptor.rejoin = null;
      acceptor.up = true;
    }
  }

  /** Advances each rejoin: the scan once due and a quorum of the others is up, then the end. */
  #stepRejoins(): void {
    for (const acceptor of this.#acceptors) {
      const rejoin = acceptor.rejoin;
      if (rejoin === null || this.now < rejoin.scanAt) continue;
      if (rejoin.pending === null) this.#scanForRejoin(acceptor, rejoin);
      if (rejoin.pending === null || rejoin.proposer === null) continue;
      for (const key of rejoin.pending) {
        if (rejoin.proposer.proposals.has(key)) continue;
        const step = this.#core.startProposal(rejoin.proposer.config, key, null, this.now,
          { id: this.#newProposalId(rejoin.proposer), above: this.#floorOf(rejoin.proposer, key) });
        this.#apply(rejoin.proposer, step);
      }
      if (rejoin.pending.size > 0) continue;
      for (const [key, state] of rejoin.recovered) {
        acceptor.store.set(key, state);
        this.#observer.onAcceptorStep(acceptor.id, key, EMPTY_ACCEPTOR_STATE, state);
      }
      acceptor.rejoin = null;
      acceptor.up = true;
      this.#log(() => `rejoin ${acceptor.id}: votes again with ${acceptor.store.size} ` +
        "recovered key(s)");
      this.#fault(acceptor.id, `rejoin ${acceptor.id} with ${acceptor.store.size} key(s)`);
    }
  }

  /** Lists the keys of the other acceptors that are up, if enough are (else waits). */
  #scanForRejoin(acceptor: Acceptor, rejoin: Rejoin): void {
    const others = this.#acceptors.filter((a) => a !== acceptor && a.up);
    const keys = this.#core.keysToRecover(this.#acceptors.length,
      others.map((a) => [...a.store.keys()]));
    if (keys === null) return;
    rejoin.pending = keys;
    const config = simProposerConfig(acceptor.id, this.#acceptors.map((a) => a.id), this.#o);
    rejoin.proposer = {
      id: acceptor.id, config, creates: new Map(), proposals: new Map(), floors: new Map(), skew: 0,
    };
    this.#log(() => `rejoin ${acceptor.id}: recovers ${rejoin.pending?.size ?? 0} key(s) ` +
      `listed by ${others.map((a) => a.id).join(",")}`);
  }

  /** A recovery proposal ended: keep what it found, or try the key again at the next tick. */
  #recovered(node: ProposerNode, key: string, outcome: ProposalOutcome): void {
    node.proposals.delete(key);
    const rejoin = this.#acceptors.find((a) => a.id === node.id)?.rejoin;
    if (rejoin === null || rejoin === undefined || rejoin.pending === null) return;
    this.#observer.onOutcome(node.id, key, outcome);
    const state = recoveredState(outcome);
    this.#log(() => `rejoin ${node.id}: ${key} ${outcome.kind}` +
      (state === null ? ", tries again" : ` at ${formatBallot(state.promised)}`));
    if (state === null) return;
    rejoin.recovered.set(key, state);
    rejoin.pending.delete(key);
  }

  #restart(acceptor: Acceptor): void {
    acceptor.up = true;
    this.#log(() => `restart ${acceptor.id} with ${acceptor.store.size} durable key(s)`);
    this.#fault(acceptor.id, `restart ${acceptor.id} with ${acceptor.store.size} durable key(s)`);
  }

  #startDueCreates(): void {
    for (const node of this.#proposers) {
      for (const create of node.creates.values()) {
        if (create.nextTryAt !== this.now) continue;
        create.nextTryAt = null;
        create.tries += 1;
        if (this.#o.valueVariety) create.value = valueOfTry(create);
        this.#log(() => `client → ${node.id} create ${create.key}=${create.value} ` +
          `(try ${create.tries})`);
        const traceId = `${node.id}-${(this.#proposalCount++).toString(36)}`;
        this.#traceIds.set(`${node.id}/${create.key}`, traceId);
        this.#emit(() => ({ t: this.now, traceId, key: create.key, kind: "request",
          from: clientOf(node.id), to: [node.id], value: create.value }));
        // Drawn only in fast seeds, so the other seeds keep the runs they always had.
        const fast = this.#o.fastRounds && this.#random.next() < 0.7;
        const step = this.#core.startProposal(node.config, create.key, create.value,
          this.now + node.skew,
          { id: this.#newProposalId(node), above: this.#floorOf(node, create.key), fast });
        this.#apply(node, step);
      }
    }
  }

  #tickProposers(): void {
    const rejoining = this.#acceptors.flatMap((a) => a.rejoin?.proposer ?? []);
    for (const node of [...this.#proposers, ...rejoining]) {
      for (const state of node.proposals.values()) {
        const wake = nextWakeAt(state);
        const local = this.now + node.skew;
        if (wake !== null && wake <= local) {
          this.#apply(node, this.#core.onTick(node.config, state, local, this.#random));
        }
      }
    }
  }

  /** Stores the proposer's new state, reports its events, sends its outbox to every acceptor. */
  #apply(node: ProposerNode, step: ProposerStep): void {
    const { state } = step;
    node.proposals.set(state.key, state);
    const floor = ballotFloor(node.floors.get(state.key) ?? null, state);
    if (floor !== null) node.floors.set(state.key, floor);
    for (const event of step.events) {
      if (event.type === "prepare") this.rounds += 1;
      if (event.type === "prepare" || event.type === "accept") {
        this.#log(() => `${node.id} ${state.key} sends ${event.type === "prepare" ? "Prepare" :
          `Accept v=${state.value ?? ""}${event.adopted ? " (adopted)" : " (own)"}`} ` +
          `n=${formatBallot(event.ballot)}`);
      }
      if (event.type === "retry") {
        this.#log(() => `tick ${node.id} ${state.key} retry after ${event.reason} of ` +
          `${formatBallot(event.ballot)}, back-off ${event.backoffTicks}`);
        this.#emit(() => ({ t: this.now, traceId: this.#traceOf(node.id, state.key),
          key: state.key, kind: "retry", from: node.id, to: [], ballot: formatBallot(event.ballot),
          outcome: `${event.reason}; back-off ${event.backoffTicks} ticks` }));
      }
      if (event.type === "done") {
        if (this.#proposers.includes(node)) this.#finish(node, state.key, event.outcome);
        else this.#recovered(node, state.key, event.outcome);
      }
    }
    for (const msg of step.outbox) {
      // As a node's tracer does: the message as sent, to every acceptor; losses are faults.
      this.#emit(() => ({ t: this.now, traceId: this.#traceOf(node.id, msg.key), key: msg.key,
        kind: msg.type, from: node.id, to: this.#acceptors.map((a) => a.id),
        ballot: formatBallot(msg.ballot), ...(msg.type === "accept" ? { value: msg.value } : {}) }));
      for (const acceptor of this.#acceptors) this.#net.send(node.id, acceptor.id, msg, this.now);
    }
  }

  #finish(node: ProposerNode, key: string, outcome: ProposalOutcome): void {
    node.proposals.delete(key);
    const create = node.creates.get(key) as Create;
    this.#observer.onOutcome(node.id, key, outcome);
    const traceId = this.#traceOf(node.id, key);
    this.#emit(() => outcome.kind === "chosen"
      ? { t: this.now, traceId, key, kind: "chosen", from: node.id, to: outcome.acceptors,
        ballot: formatBallot(outcome.ballot), value: outcome.value }
      : { t: this.now, traceId, key, kind: "gave-up", from: node.id, to: [],
        outcome: outcome.kind });
    this.#emit(() => ({ t: this.now, traceId, key, kind: "reply", from: node.id,
      to: [clientOf(node.id)], ...(outcome.kind === "chosen"
        ? { value: outcome.value, created: outcome.value === create.value }
        : { outcome: outcome.kind }) }));
    if (outcome.kind !== "chosen") {
      create.nextTryAt = this.now + 1 + randomInt(this.#random, 20);
      this.#log(() => `${node.id} → client ${key} ${outcome.kind} after ${roundsOf(outcome)} ` +
        `round(s); client retries at t=${create.nextTryAt}`);
      return;
    }
    create.result = outcome.value;
    if (create.repeats > 0 && this.now < this.#o.healAt) {
      create.repeats -= 1;
      create.nextTryAt = this.now + 1 + randomInt(this.#random, 60);
    }
    this.#log(() => `chosen ${key}=${outcome.value} n=${formatBallot(outcome.ballot)} by ` +
      `${node.id} (accepted by ${outcome.acceptors.join(",")}); created=` +
      String(outcome.value === create.value));
    // The chosen stream is durable (JetStream): learners get it late, but always.
    for (const learner of LEARNER_IDS) {
      const msg = { type: "learn", key, value: outcome.value, ballot: outcome.ballot } as const;
      const at = this.now + 1 + randomInt(this.#random, this.#faults.delayTicksMax * 3);
      this.#net.sendReliably(node.id, learner, msg, at);
    }
  }

  #deliver(env: Envelope): void {
    const { msg } = env;
    if (msg.type === "learn") return this.#learn(env.to, msg.key, msg.value, msg.ballot, env);
    if (msg.type === "prepare" || msg.type === "accept") return this.#toAcceptor(env, msg);
    const node = this.#proposers.find((p) => p.id === env.to) ??
      this.#acceptors.find((a) => a.id === env.to)?.rejoin?.proposer;
    if (node === undefined || node === null) return;
    const state = node.proposals.get(msg.key);
    this.delivered += 1;
    this.#log(() => `deliver ${describe(env)}${state === undefined ? " (no proposal)" : ""}`);
    if (state !== undefined) this.#emitReply(env.to, msg);
    if (state !== undefined) {
      const local = this.now + node.skew;
      this.#apply(node, this.#core.onReply(node.config, state, msg, local, this.#random));
    }
  }

  #toAcceptor(env: Envelope, msg: ProposerToAcceptor): void {
    const acceptor = this.#acceptors.find((a) => a.id === env.to) as Acceptor;
    if (!acceptor.up) {
      this.#recordLoss(env, `lost ${formatSimMsg(env.msg)} (${acceptor.id} is down)`, true);
      return this.#log(() => `drop ${describe(env)} (${acceptor.id} is down)`);
    }
    if (this.now < acceptor.pausedUntil) {
      // Waits in the paused process's socket buffer; handled after the reply it owes.
      return this.#net.sendReliably(env.from, env.to, msg, acceptor.pausedUntil + 1);
    }
    this.delivered += 1;
    this.#log(() => `deliver ${describe(env)}`);
    const before = acceptor.store.get(msg.key) ?? EMPTY_ACCEPTOR_STATE;
    const step = msg.type === "prepare" ? this.#core.onPrepare(before, msg, acceptor.id)
      : this.#core.onAccept(before, msg, acceptor.id);
    // Persist before replying: a crash from here on keeps the new state.
    if (step.changed) acceptor.store.set(msg.key, step.state);
    const fact = this.#observer.onAcceptorStep(acceptor.id, msg.key, before, step.state);
    if (fact !== null) {
      this.#log(() => `observer: ${msg.key}=${fact.value} chosen at ` +
        `${formatBallot(fact.ballot)} (a majority accepted it)`);
    }
    if (this.#o.crashes && this.now < this.#o.healAt && this.#random.next() < 0.02) {
      return this.#crash(acceptor, " after persisting, before replying");
    }
    // Drawn only in seeds with pauses, so the other seeds keep the runs they always had.
    if (this.#o.pausePct > 0 && this.now < this.#o.healAt &&
      this.#random.next() * 100 < this.#o.pausePct) {
      acceptor.pausedUntil = this.now + 1 + randomInt(this.#random, 8 * this.#o.phaseTimeoutTicks);
      this.#log(() => `pause ${acceptor.id} until t=${acceptor.pausedUntil}, its reply held`);
      this.#fault(acceptor.id, `pause ${acceptor.id} until t=${acceptor.pausedUntil}`);
    }
    this.#net.send(acceptor.id, env.from, step.reply, Math.max(this.now, acceptor.pausedUntil));
  }

  #learn(learner: string, key: string, value: string, ballot: Ballot, env: Envelope): void {
    const replica = this.#learners.get(learner) as LearnerReplica;
    const result = replica.learn({ key, value, ballot });
    this.#log(() => `deliver ${env.from} → ${learner}  Learn ${key}=${value} ` +
      `n=${formatBallot(ballot)}: ${result.kind}`);
    this.#observer.onLearn(learner, key, value, result);
  }

  /** A reader asks some live acceptors at one instant; what it concludes must be true. */
  #quorumRead(): void {
    const key = KEYS[randomInt(this.#random, this.#o.keyCount)] as string;
    const live = this.#acceptors.filter((a) => a.up && this.#random.next() < 0.8);
    const reports = live.map((a) => ({ from: a.id, accepted: a.store.get(key)?.accepted ?? null }));
    const read = classifyQuorumRead(this.#acceptors.map((a) => a.id), reports);
    this.#observer.onRead(key, read);
  }

  /** The key's ballot floor, unless this run leaves the ID check alone to keep replies apart. */
  #floorOf(node: ProposerNode, key: string): Ballot | null {
    return this.#o.ballotFloor ? node.floors.get(key) ?? null : null;
  }

  /** Unique across the node's restarts, as the driver's (an incarnation ID and a counter). */
  #newProposalId(node: ProposerNode): string {
    return `${node.id}.${(this.#proposalIds++).toString(36)}`;
  }

  /** The running proposal's trace ID at `proposer` for `key` (as the node's tracer names it). */
  #traceOf(proposer: string, key: string): string {
    return this.#traceIds.get(`${proposer}/${key}`) ?? `${proposer}-?`;
  }

  #emit(event: () => TraceEvent): void {
    if (this.#record !== undefined) this.#record(event());
  }

  /** An acceptor's reply as the proposer's tracer sees it arrive. */
  #emitReply(proposer: string, msg: AcceptorToProposer): void {
    this.#emit(() => {
      const base = { t: this.now, traceId: this.#traceOf(proposer, msg.key), key: msg.key,
        from: msg.from, to: [proposer], ballot: formatBallot(msg.ballot) };
      if (msg.type === "promise") {
        return { ...base, kind: "promise", accepted: msg.accepted === null ? null :
          { ballot: formatBallot(msg.accepted.ballot), value: msg.accepted.value } };
      }
      return msg.type === "nack" ? { ...base, kind: "nack", promised: formatBallot(msg.promised) }
        : { ...base, kind: "accepted" };
    });
  }

  #fault(node: string, what: string): void {
    this.#emit(() => ({ t: this.now, traceId: "-", key: "", kind: "fault",
      from: node || "network", to: [], outcome: what }));
  }

  /** A message lost (drawn from its sender to where it never arrived) or duplicated. */
  #recordLoss(env: Envelope, what: string, lost: boolean): void {
    if (env.msg.type === "learn") return;
    const proposer = env.msg.type === "prepare" || env.msg.type === "accept" ? env.from : env.to;
    const key = env.msg.key;
    this.#emit(() => ({ t: this.now, traceId: this.#traceOf(proposer, key), key, kind: "fault",
      from: env.from, to: lost ? [env.to] : [], outcome: what }));
  }

  #log(line: () => string): void {
    if (this.#trace !== undefined) this.#trace(`t=${this.now} ${line()}`);
  }
}

/** Try 1 proposes the client's value; each later try another client's ("3", "3/2", "3/3"). */
function valueOfTry(create: Create): string {
  return create.tries <= 1 ? create.base : `${create.base}/${create.tries}`;
}

function roundsOf(outcome: ProposalOutcome): number | string {
  return "rounds" in outcome ? outcome.rounds : "?";
}

/** The client behind proposer P1 is client-1, as in the seed's "client 1". */
function clientOf(proposer: string): string {
  return `client-${proposer.replace(/^P/, "")}`;
}
