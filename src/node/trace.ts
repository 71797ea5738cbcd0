import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { decodeJson } from "../adapters/nats/connection.js";
import { formatBallot } from "../core/ballot.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../core/messages.js";
import type { ProposerEvent } from "../core/proposer.js";
import type { ProposalView, ProposerObserver } from "./proposer-driver.js";

/**
 * One message of a create as the seed draws it: who sent what to whom. Published on
 * `<prefix>.trace.<key>` by the proposer that runs the create, only while someone traces.
 */
export interface TraceEvent {
  /** Milliseconds since the epoch (fractional); in a simulator export, the tick. */
  readonly t: number;
  readonly traceId: string;
  /** The key; empty for a simulator fault that concerns no one key (a crash, a partition). */
  readonly key: string;
  readonly kind: "request" | "prepare" | "promise" | "accept" | "accepted" | "nack" | "retry"
    | "chosen" | "gave-up" | "reply"
    /** Simulator exports only: a crash, a partition, a lost message (`outcome` says which). */
    | "fault";
  readonly from: string;
  readonly to: readonly string[];
  readonly ballot?: string;
  readonly value?: string;
  /** A promise's answer: the accepted proposal, or null (empty). */
  readonly accepted?: { readonly ballot: string; readonly value: string } | null;
  /** A nack's promised ballot. */
  readonly promised?: string;
  readonly outcome?: string;
}

export function traceSubject(prefix: string, key: string): string {
  return `${prefix}.trace.${key}`;
}

/** Tracers ask every node to trace keys matching `pattern` for `ttlMs`; they renew it. */
export function traceControlSubject(prefix: string): string {
  return `${prefix}.trace-control`;
}

export const TraceControlSchema = z.object({
  pattern: z.string().min(1).max(255).default(">"),
  ttlMs: z.number().int().min(100).max(600_000).default(15_000),
}).strict();

/** NATS subject matching for key patterns: `*` is one token, `>` the rest. */
export function keyMatches(pattern: string, key: string): boolean {
  const p = pattern.split(".");
  const k = key.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return k.length > i;
    if (i >= k.length || (p[i] !== "*" && p[i] !== k[i])) return false;
  }
  return p.length === k.length;
}

/**
 * Publishes trace events for proposals whose key some tracer asked for. Off by default, so
 * the hot path pays one Map lookup; `paxoskv trace` and the web page switch it on.
 */
export class Tracer implements ProposerObserver {
  readonly #patterns = new Map<string, number>();
  #control: Subscription | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly acceptors: readonly string[],
  ) {}

  start(): void {
    this.#control = this.nc.subscribe(traceControlSubject(this.prefix), {
      callback: (_err, msg) => {
        const parsed = TraceControlSchema.safeParse(decodeJson(msg.data));
        if (!parsed.success) return;
        this.#patterns.set(parsed.data.pattern, Date.now() + parsed.data.ttlMs);
        if (msg.reply !== undefined) msg.respond(JSON.stringify({ ok: true, node: this.nodeId }));
      },
    });
  }

  stop(): void {
    this.#control?.unsubscribe();
  }

  /** True when some tracer wants `key` now. */
  tracing(key: string): boolean {
    if (this.#patterns.size === 0) return false;
    const now = Date.now();
    for (const [pattern, until] of this.#patterns) {
      if (until < now) this.#patterns.delete(pattern);
      else if (keyMatches(pattern, key)) return true;
    }
    return false;
  }

  /** A client request or reply, seen by the proposer that serves it. */
  client(traceId: string, key: string, kind: "request" | "reply", client: string,
    detail: { value?: string; outcome?: string }): void {
    if (!this.tracing(key)) return;
    const event: TraceEvent = kind === "request"
      ? { t: now(), traceId, key, kind, from: client, to: [this.nodeId], ...detail }
      : { t: now(), traceId, key, kind, from: this.nodeId, to: [client], ...detail };
    this.#publish(event);
  }

  sent(p: ProposalView, msg: ProposerToAcceptor): void {
    if (!this.tracing(p.key)) return;
    this.#publish({
      t: now(), traceId: p.traceId, key: p.key, kind: msg.type, from: this.nodeId,
      to: this.acceptors, ballot: formatBallot(msg.ballot),
      ...(msg.type === "accept" ? { value: msg.value } : {}),
    });
  }

  received(p: ProposalView, reply: AcceptorToProposer): void {
    if (!this.tracing(p.key)) return;
    const base = {
      t: now(), traceId: p.traceId, key: p.key, from: reply.from, to: [this.nodeId],
      ballot: formatBallot(reply.ballot),
    };
    if (reply.type === "promise") {
      this.#publish({ ...base, kind: "promise", accepted: reply.accepted === null ? null :
        { ballot: formatBallot(reply.accepted.ballot), value: reply.accepted.value } });
    } else if (reply.type === "nack") {
      this.#publish({ ...base, kind: "nack", promised: formatBallot(reply.promised) });
    } else {
      this.#publish({ ...base, kind: "accepted" });
    }
  }

  event(p: ProposalView, event: ProposerEvent): void {
    if (!this.tracing(p.key)) return;
    const base = { t: now(), traceId: p.traceId, key: p.key, from: this.nodeId, to: [] };
    if (event.type === "retry") {
      this.#publish({ ...base, kind: "retry", ballot: formatBallot(event.ballot),
        outcome: `${event.reason}; back-off ${event.backoffTicks} ms` });
    } else if (event.type === "done") {
      const o = event.outcome;
      this.#publish(o.kind === "chosen"
        ? { ...base, kind: "chosen", ballot: formatBallot(o.ballot), value: o.value,
          to: o.acceptors }
        : { ...base, kind: "gave-up", outcome: o.kind });
    }
  }

  #publish(event: TraceEvent): void {
    if (!this.nc.isClosed()) this.nc.publish(traceSubject(this.prefix, event.key), JSON.stringify(event));
  }
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The ballot `round.node` as the seed writes it: `(round, node)`. */
function n(ballot: string | undefined): string {
  if (ballot === undefined) return "";
  const dot = ballot.indexOf(".");
  return `n=(${ballot.slice(0, dot)}, ${ballot.slice(dot + 1)})`;
}

/** One line of `paxoskv trace`: `B → A  Promise n=(1717.., A) accepted=[n, 3]`. */
export function formatTraceEvent(e: TraceEvent, sinceMs: number): string {
  const clock = new Date(e.t).toISOString().slice(11, 23);
  const at = `${clock} +${sinceMs.toFixed(1).padStart(6)} ms`;
  const arrow = `${e.from} → ${e.to.join(",")}`.padEnd(18);
  const detail = (() => {
    switch (e.kind) {
      case "request": return `create ${e.key}=${e.value ?? ""}`;
      case "prepare": return `Prepare ${n(e.ballot)}`;
      case "promise": return `Promise ${n(e.ballot)} accepted=${e.accepted == null ? "empty" :
        `[${n(e.accepted.ballot)}, ${e.accepted.value}]`}`;
      case "accept": return `Accept [${n(e.ballot)}, ${e.value ?? ""}]`;
      case "accepted": return `Accepted ${n(e.ballot)}`;
      case "nack": return `Nack ${n(e.ballot)} promised ${n(e.promised)}`;
      case "retry": return `retry after ${e.outcome ?? ""}`;
      case "chosen": return `chosen ${e.key}=${e.value ?? ""} by ${e.to.join(",")}`;
      case "gave-up": return `gave up: ${e.outcome ?? ""}`;
      case "reply": return `reply ${e.outcome ?? ""}`;
      case "fault": return `fault: ${e.outcome ?? ""}`;
    }
  })();
  const who = e.kind === "chosen" || e.kind === "retry" || e.kind === "gave-up"
    ? `${e.from}`.padEnd(18) : arrow;
  return `${at}  [${e.traceId}]  ${who} ${detail}`;
}
