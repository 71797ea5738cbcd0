import { constants, PerformanceObserver } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import {
  collectDefaultMetrics, Counter, Gauge, Histogram, Registry,
} from "prom-client";
import { isFastBallot } from "../../core/ballot.js";
import type { ProposerEvent } from "../../core/proposer.js";
import { ADMITTED_OPERATIONS, REFUSAL_REASONS } from "../roles/admission.js";
import type { ProposalView, ProposerObserver } from "../roles/proposer-driver.js";

export const CREATE_OUTCOMES = ["created", "exists", "timeout", "unavailable", "rejected"] as const;
export type CreateOutcome = (typeof CREATE_OUTCOMES)[number];
export const READ_RESULTS = ["hit", "miss", "repair", "absent", "failed"] as const;
export type ReadResult = (typeof READ_RESULTS)[number];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
  0.512, 1, 2, 4];

/** Prometheus metrics of one node (`/metrics`); one registry per node. */
export class Metrics implements ProposerObserver {
  readonly registry = new Registry();
  readonly creates = new Counter({
    name: "paxoskv_creates_total", help: "Creates answered, by outcome",
    labelNames: ["outcome"] as const, registers: [this.registry],
  });
  readonly admissionRefused = new Counter({
    name: "paxoskv_admission_refused_total",
    help: "Requests refused at once (UNAVAILABLE) because this node is overloaded, by operation " +
      "(create, or get for a miss's quorum read) and reason: queue-full (its client, or all " +
      "clients, had too many waiting), waited-too-long, stopping",
    labelNames: ["op", "reason"] as const, registers: [this.registry],
  });
  readonly admissionQueued = new Gauge({
    name: "paxoskv_admission_queued",
    help: "Requests waiting for their turn (PAXOSKV_MAX_IN_FLIGHT), by operation",
    labelNames: ["op"] as const, registers: [this.registry],
  });
  readonly rounds = new Histogram({
    name: "paxoskv_create_rounds", help: "Ballots tried per proposal (1 = no contention)",
    buckets: [1, 2, 3, 5, 10, 20, 50], registers: [this.registry],
  });
  readonly ballotsBumped = new Counter({
    name: "paxoskv_ballots_bumped_total",
    help: "Proposal retries with a higher ballot, by reason (refused = contention)",
    labelNames: ["reason"] as const, registers: [this.registry],
  });
  readonly fastRounds = new Counter({
    name: "paxoskv_fast_rounds_total",
    help: "Fast first rounds (Accept without Prepare), by result: chosen, or refused (the key " +
      "had state or another value) or timeout (an acceptor silent), both then run classic",
    labelNames: ["result"] as const, registers: [this.registry],
  });
  readonly phaseSeconds = new Histogram({
    name: "paxoskv_phase_seconds",
    help: "Phase latency: prepare (to a majority of promises), accept (to a majority of " +
      "accepts), fast (a fast round, to all accepts), announce (chosen to seen on the stream " +
      "by this node)",
    labelNames: ["phase"] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly acceptorReplies = new Counter({
    name: "paxoskv_acceptor_replies_total",
    help: "This acceptor's answers: promise, accepted, nack (a rejection), by phase",
    labelNames: ["reply", "phase"] as const, registers: [this.registry],
  });
  readonly reads = new Counter({
    name: "paxoskv_reads_total",
    help: "Linearizable gets: replica hit, miss resolved by a quorum read, repair (read " +
      "repair ran Paxos), absent, failed",
    labelNames: ["result"] as const, registers: [this.registry],
  });
  readonly learnerLag = new Gauge({
    name: "paxoskv_learner_lag", help: "Chosen-stream messages not yet applied by this learner",
    registers: [this.registry],
  });
  readonly learnerSequence = new Gauge({
    name: "paxoskv_learner_sequence",
    help: "The last chosen-stream sequence this learner's replica applied (kept on disk)",
    registers: [this.registry],
  });
  readonly replicaKeys = new Gauge({
    name: "paxoskv_replica_keys", help: "Keys in this learner's replica",
    registers: [this.registry],
  });
  readonly natsConnected = new Gauge({
    name: "paxoskv_nats_connected", help: "1 while connected to NATS",
    registers: [this.registry],
  });
  readonly redisUp = new Gauge({
    name: "paxoskv_redis_up", help: "1 while this acceptor's Redis answers",
    registers: [this.registry],
  });
  readonly jetstreamMissing = new Gauge({
    name: "paxoskv_jetstream_missing",
    help: "1 while a JetStream stream this node uses is gone (chosen-stream, acceptor-registry): " +
      "JetStream lost its data; the node recreates it",
    labelNames: ["stream"] as const, registers: [this.registry],
  });
  readonly jetstreamLost = new Counter({
    name: "paxoskv_jetstream_lost_total",
    help: "Times this node found a JetStream stream it uses gone, by stream",
    labelNames: ["stream"] as const, registers: [this.registry],
  });
  readonly quorumReadRedisUp = new Gauge({
    name: "paxoskv_quorum_read_redis_up",
    help: "1 while this node's direct quorum reads reach the acceptor's Redis " +
      "(PAXOSKV_ACCEPTOR_REDIS): connected, with its registration known",
    labelNames: ["acceptor"] as const, registers: [this.registry],
  });
  readonly acceptorVoting = new Gauge({
    name: "paxoskv_acceptor_voting",
    help: "What this node hears of each configured acceptor (its voting beat): 1 votes, 0 does " +
      "not vote (fenced, rejoining) or was not heard lately",
    labelNames: ["acceptor"] as const, registers: [this.registry],
  });
  readonly acceptorBucketsLost = new Gauge({
    name: "paxoskv_acceptor_buckets_lost",
    help: "Buckets of this node's acceptor store (a Redis Cluster store) that lost their " +
      "state, a wiped or replaced primary: their keys do not vote until acceptor rejoin",
    registers: [this.registry],
  });
  readonly acceptorsConfigured = new Gauge({
    name: "paxoskv_acceptors_configured",
    help: "Acceptors in PAXOSKV_ACCEPTORS: a quorum is a strict majority of them",
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: "paxoskv_build_info",
    help: "Always 1; the labels say which paxoskv, Node.js and nats-server this node runs, and " +
      "its acceptor's Redis (none without the acceptor role)",
    labelNames: ["version", "nodejs", "nats_server", "redis"] as const,
    registers: [this.registry],
  });
  readonly heapLive = new Gauge({
    name: "paxoskv_process_heap_live_bytes",
    help: "V8 heap in use right after the last full (mark-compact) garbage collection: the " +
      "memory the process really holds, without the garbage that heap_size_used counts until " +
      "the next collection (0 before the first one)",
    registers: [this.registry],
    collect() {
      this.set(liveHeap);
    },
  });
  readonly #phaseStart = new Map<string, { phase: "prepare" | "accept" | "fast"; at: number }>();
  readonly #chosenAt = new Map<string, number>();

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    // Shown at 0 from the start for every label they will have, so that a rate (an alert on
    // timeouts, say) works before the first event.
    for (const op of ADMITTED_OPERATIONS) {
      for (const reason of REFUSAL_REASONS) this.admissionRefused.inc({ op, reason }, 0);
    }
    for (const outcome of CREATE_OUTCOMES) this.creates.inc({ outcome }, 0);
    for (const result of READ_RESULTS) this.reads.inc({ result }, 0);
    for (const reason of ["refused", "timeout"]) this.ballotsBumped.inc({ reason }, 0);
    for (const result of ["chosen", "refused", "timeout"]) this.fastRounds.inc({ result }, 0);
    for (const [reply, phase] of [["promise", "prepare"], ["nack", "prepare"],
      ["accepted", "accept"], ["nack", "accept"]] as const) {
      this.acceptorReplies.inc({ reply, phase }, 0);
    }
    // Event-loop lag sampled every 100 ms, not every 10 (the default): each sample wakes an
    // idle loop, 200 wakeups a second per node for a gauge scraped every few seconds.
    watchFullCollections();
    collectDefaultMetrics({
      register: this.registry, prefix: "paxoskv_process_", eventLoopMonitoringPrecision: 100,
    });
  }

  event(p: ProposalView, event: ProposerEvent): void {
    const now = performance.now();
    const started = this.#phaseStart.get(p.traceId);
    if (event.type === "prepare") {
      this.#phaseStart.set(p.traceId, { phase: "prepare", at: now });
    } else if (event.type === "accept") {
      if (started?.phase === "prepare") this.#observe("prepare", started.at, now);
      this.#phaseStart.set(p.traceId,
        { phase: isFastBallot(event.ballot) ? "fast" : "accept", at: now });
    } else if (event.type === "retry" && isFastBallot(event.ballot)) {
      this.fastRounds.inc({ result: event.reason });
    } else if (event.type === "retry") {
      this.ballotsBumped.inc({ reason: event.reason });
    } else {
      if (event.outcome.kind === "chosen" && started !== undefined && started.phase !== "prepare") {
        if (started.phase === "fast") this.fastRounds.inc({ result: "chosen" });
        this.#observe(started.phase, started.at, now);
        this.#rememberChosen(p.key, now);
      }
      this.rounds.observe(p.state.rounds);
      this.#phaseStart.delete(p.traceId);
    }
  }

  /** The learner saw `key` on the stream: the announce phase of a value chosen here ends. */
  streamed(key: string): void {
    const at = this.#chosenAt.get(key);
    if (at === undefined) return;
    this.#chosenAt.delete(key);
    this.#observe("announce", at, performance.now());
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  #observe(phase: "prepare" | "accept" | "fast" | "announce", from: number, to: number): void {
    this.phaseSeconds.observe({ phase }, (to - from) / 1000);
  }

  /** Bounded: a value whose announcement this node never sees is forgotten, not leaked. */
  #rememberChosen(key: string, at: number): void {
    if (this.#chosenAt.size >= 10_000) {
      const oldest = this.#chosenAt.keys().next().value;
      if (oldest !== undefined) this.#chosenAt.delete(oldest);
    }
    this.#chosenAt.set(key, at);
  }
}

let liveHeap = 0;
let gcObserver: PerformanceObserver | null = null;

/** Notes the heap in use after each full collection; one observer for the whole process. */
function watchFullCollections(): void {
  if (gcObserver !== null) return;
  gcObserver = new PerformanceObserver((list) => {
    const major = list.getEntries().some((entry) => (entry as { detail?: { kind?: number } })
      .detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (major) liveHeap = getHeapStatistics().used_heap_size;
  });
  gcObserver.observe({ entryTypes: ["gc"] });
}
