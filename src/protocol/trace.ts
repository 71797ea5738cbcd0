/**
 * The live trace contract: the events a proposer publishes for the creates someone traces and
 * their subjects (the control message that asks for them is in `trace-control.ts`).
 * `paxoskv trace`, the web page and the simulator's exports all speak it, so it lives here
 * and not with any one of them. The page's bundle imports this file: no zod, no Node here.
 */
import { formatBallotPair } from "../core/ballot.js";

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
  /** A request's or an accept's value; the chosen value of `chosen` and of a reply that has one. */
  readonly value?: string;
  /** A promise's answer: the accepted proposal, or null (empty). */
  readonly accepted?: { readonly ballot: string; readonly value: string } | null;
  /** A nack's promised ballot. */
  readonly promised?: string;
  /** A reply with a chosen value: whether it is the value this request sent. */
  readonly created?: boolean;
  /** Why: a retry's reason, a give-up's or a failed reply's outcome, a fault's kind. */
  readonly outcome?: string;
}

export function traceSubject(prefix: string, key: string): string {
  return `${prefix}.trace.${key}`;
}

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

/** The ballot `round.node` as the seed writes it: `n=(round, node)`. */
function n(ballot: string | undefined): string {
  return ballot === undefined ? "" : `n=${formatBallotPair(ballot)}`;
}

/** A reply's text: `X=7 created=true`, or the failure (`timeout`, `unavailable`, ...). */
export function replyOutcome(e: TraceEvent): string {
  return e.created === undefined ? e.outcome ?? "" : `${e.key}=${e.value ?? ""} created=${e.created}`;
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
      case "reply": return `reply ${replyOutcome(e)}`;
      case "fault": return `fault: ${e.outcome ?? ""}`;
    }
  })();
  const who = e.kind === "chosen" || e.kind === "retry" || e.kind === "gave-up"
    ? `${e.from}`.padEnd(18) : arrow;
  return `${at}  [${e.traceId}]  ${who} ${detail}`;
}
