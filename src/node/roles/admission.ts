import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import type { NodeConfig } from "../infrastructure/config.js";
import type { Metrics } from "../infrastructure/metrics.js";

/** What is admitted: creates into the proposer, or gets' quorum reads. */
export const ADMITTED_OPERATIONS = ["create", "get"] as const;
export type AdmittedOperation = (typeof ADMITTED_OPERATIONS)[number];

export interface AdmissionLimits {
  readonly operation: AdmittedOperation;
  /** Requests this node runs at once. */
  readonly maxInFlight: number;
  /** Requests one source may have waiting; more are refused at once. */
  readonly maxQueuedPerSource: number;
  /** Requests waiting over all sources; more are refused at once (bounds the node's memory). */
  readonly maxQueued: number;
  /** A request that waited this long is refused instead of started (its client would give up). */
  readonly maxWaitMs: number;
}

export const REFUSAL_REASONS = ["queue-full", "waited-too-long", "stopping"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

interface Waiting {
  readonly since: number;
  readonly admit: () => void;
  readonly refuse: (reason: RefusalReason) => void;
}

/**
 * Admission of client requests (creates into a node's proposer, gets' quorum reads), so that
 * one client's flood cannot starve the others (matrix row D5). At most `maxInFlight` run; the
 * rest wait in one queue per source (a client connection), and each freed slot goes to the
 * next source in turn, so a client with one request waiting starts it after at most one of
 * each other source. A request beyond the queues' bounds, or one that waited past
 * `maxWaitMs`, is refused with UNAVAILABLE: it certainly did nothing, and the client may retry.
 */
export class FairAdmission {
  #running = 0;
  #queued = 0;
  /** Sources with creates waiting, in turn order (a Map keeps insertion order). */
  readonly #queues = new Map<string, Waiting[]>();
  #sweep: NodeJS.Timeout | null = null;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly onRefused: (reason: RefusalReason) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queued;
  }

  /**
   * Resolves with a release to call when the create is done, once it may run; rejects with
   * UNAVAILABLE when it is refused.
   */
  enter(source: string): Promise<() => void> {
    if (this.#running < this.limits.maxInFlight && this.#queued === 0) {
      return Promise.resolve(this.#start());
    }
    const queue = this.#queues.get(source) ?? [];
    if (queue.length >= this.limits.maxQueuedPerSource || this.#queued >= this.limits.maxQueued) {
      return Promise.reject(this.#refusal("queue-full"));
    }
    return new Promise((resolve, reject) => {
      queue.push({
        since: this.now(),
        admit: () => resolve(this.#start()),
        refuse: (reason) => reject(this.#refusal(reason)),
      });
      this.#queued++;
      if (queue.length === 1) this.#queues.set(source, queue);
      this.#armSweep();
      this.#pump();
    });
  }

  /** Refuses everything still waiting (the node is stopping). */
  close(): void {
    for (const queue of this.#queues.values()) {
      for (const waiting of queue) waiting.refuse("stopping");
    }
    this.#queues.clear();
    this.#queued = 0;
    this.#disarmSweep();
  }

  #start(): () => void {
    this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      this.#pump();
    };
  }

  /** Fills free slots from the queues, one create per source in turn. */
  #pump(): void {
    while (this.#running < this.limits.maxInFlight && this.#queued > 0) {
      const [source, queue] = this.#queues.entries().next().value as [string, Waiting[]];
      const waiting = queue.shift() as Waiting;
      this.#queued--;
      this.#queues.delete(source);
      if (queue.length > 0) this.#queues.set(source, queue); // to the back of the turn
      if (this.now() - waiting.since > this.limits.maxWaitMs) {
        waiting.refuse("waited-too-long");
      } else {
        waiting.admit();
      }
    }
    if (this.#queued === 0) this.#disarmSweep();
  }

  /** While creates wait, refuses those past `maxWaitMs` even when no slot frees. */
  #armSweep(): void {
    if (this.#sweep !== null) return;
    this.#sweep = setInterval(() => this.#refuseExpired(), Math.max(10, this.limits.maxWaitMs / 4));
    this.#sweep.unref();
  }

  #disarmSweep(): void {
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
  }

  #refuseExpired(): void {
    const oldest = this.now() - this.limits.maxWaitMs;
    for (const [source, queue] of this.#queues) {
      // Each queue is in arrival order: its expired creates are at its front.
      let expired = 0;
      while (expired < queue.length && (queue[expired] as Waiting).since < oldest) expired++;
      if (expired === 0) continue;
      for (const waiting of queue.splice(0, expired)) waiting.refuse("waited-too-long");
      this.#queued -= expired;
      if (queue.length === 0) this.#queues.delete(source);
    }
    if (this.#queued === 0) this.#disarmSweep();
  }

  #refusal(reason: RefusalReason): PaxosKvError {
    this.onRefused(reason);
    const op = this.limits.operation;
    const why = {
      "queue-full": `this node is overloaded: too many ${op}s are waiting`,
      "waited-too-long": `this node is overloaded: the ${op} waited over ` +
        `${this.limits.maxWaitMs} ms for its turn`,
      "stopping": "this node is stopping",
    }[reason];
    return new PaxosKvError(ErrorCode.UNAVAILABLE, op === "create"
      ? `${why}; the create did not take effect` : `${why}; retry later`);
  }
}

/**
 * The source of a request: its reply subject without the last token. A client's requests
 * share its connection's inbox prefix (`_INBOX.<id>.<token>`).
 */
export function sourceOf(reply: string | undefined): string {
  if (reply === undefined) return "";
  const dot = reply.lastIndexOf(".");
  return dot < 0 ? reply : reply.slice(0, dot);
}

/** Requests waiting in all, over every source, per request allowed in flight. */
export const QUEUED_PER_IN_FLIGHT = 8;

/**
 * The node's door for `op`: at most PAXOSKV_MAX_IN_FLIGHT at once, as many waiting per source,
 * QUEUED_PER_IN_FLIGHT times that in all, each waiting at most its queue wait.
 */
export function admissionOf(
  op: AdmittedOperation,
  config: Pick<NodeConfig, "maxInFlight" | "createQueueWaitMs" | "getQueueWaitMs">,
  metrics: Pick<Metrics, "admissionRefused">,
): FairAdmission {
  return new FairAdmission({
    operation: op, maxInFlight: config.maxInFlight, maxQueuedPerSource: config.maxInFlight,
    maxQueued: QUEUED_PER_IN_FLIGHT * config.maxInFlight,
    maxWaitMs: op === "create" ? config.createQueueWaitMs : config.getQueueWaitMs,
  }, (reason) => metrics.admissionRefused.inc({ op, reason }));
}
