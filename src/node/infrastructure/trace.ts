import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeJson } from "../../adapters/nats/connection.js";
import { formatBallot } from "../../core/ballot.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../../core/messages.js";
import type { ProposerEvent } from "../../core/proposer.js";
import type { ProposalView, ProposerObserver } from "../roles/proposer-driver.js";
import { TraceControlSchema, traceControlSubject } from "../../protocol/trace-control.js";
import { keyMatches, traceSubject, type TraceEvent } from "../../protocol/trace.js";

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
    detail: { value?: string; created?: boolean; outcome?: string }): void {
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
