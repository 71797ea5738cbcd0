/**
 * Trace events as the page words them: an arrow's short label and the one-line description
 * (like `paxoskv trace` prints it). Events come from the live feed or from a file, so
 * `isEvent` checks the shape first.
 */
import { formatBallotPair } from "../../core/ballot.js";
import { replyOutcome, type TraceEvent } from "../../protocol/trace.js";

/** (round, node) as the seed writes it; unless `full`, a timestamp round keeps its last digits. */
export function ballot(b: string | undefined, full = false): string {
  return b ? formatBallotPair(b, full ? Infinity : 6) : "";
}

export function isEvent(e: unknown): e is TraceEvent {
  if (typeof e !== "object" || e === null) return false;
  const x = e as Record<string, unknown>;
  return typeof x.t === "number" && typeof x.kind === "string" && typeof x.from === "string" &&
    Array.isArray(x.to) && typeof x.key === "string";
}

function accepted(e: TraceEvent, full: boolean): string {
  return e.accepted ? `[${ballot(e.accepted.ballot, full)}, ${e.accepted.value}]` : "";
}

/** A reply carries the chosen value and "created" as fields, or a failure's outcome. */
function replyText(e: TraceEvent): string {
  if (typeof e.created !== "boolean") return `reply ${e.outcome || ""}`;
  return `reply ${e.value || ""}${e.created ? " \u2713 created" : " (not created)"}`;
}

/** The arrow's label: short. */
export function label(e: TraceEvent): string {
  const kind: string = e.kind;
  switch (e.kind) {
    case "request": return `create \u201c${e.value || ""}\u201d`;
    case "prepare": return `Prepare n=${ballot(e.ballot)}`;
    case "promise": return `Promise n=${ballot(e.ballot)}  ` +
      (e.accepted ? `accepted ${accepted(e, false)}` : "empty");
    case "accept": return `Accept [${ballot(e.ballot)}, ${e.value || ""}]`;
    case "accepted": return `Accepted n=${ballot(e.ballot)}`;
    case "nack": return `Nack n=${ballot(e.ballot)}  promised ${ballot(e.promised)}`;
    case "retry": return `\u21bb retry: ${e.outcome || ""}`;
    case "chosen": return `chosen ${e.key} = ${e.value || ""}`;
    case "gave-up": return `\u2716 gave up: ${e.outcome || ""}`;
    case "reply": return replyText(e);
    case "fault": return `\u26a1 ${e.outcome || "fault"}`;
  }
  return kind;
}

function detail(e: TraceEvent): string {
  const kind: string = e.kind;
  switch (e.kind) {
    case "request": return `create ${e.key}=${e.value || ""}`;
    case "prepare": return `Prepare n=${ballot(e.ballot, true)}`;
    case "promise": return `Promise n=${ballot(e.ballot, true)} accepted=` +
      (e.accepted ? accepted(e, true) : "empty");
    case "accept": return `Accept [n=${ballot(e.ballot, true)}, ${e.value || ""}]`;
    case "accepted": return `Accepted n=${ballot(e.ballot, true)}`;
    case "nack": return `Nack n=${ballot(e.ballot, true)} promised ${ballot(e.promised, true)}`;
    case "retry": return `retry after ${e.outcome || ""}`;
    case "chosen": return `chosen ${e.key}=${e.value || ""} at n=${ballot(e.ballot, true)} ` +
      `by ${e.to.join(",")}`;
    case "gave-up": return `gave up: ${e.outcome || ""}`;
    case "reply": return `reply ${replyOutcome(e)}`;
    case "fault": return e.outcome || "fault";
  }
  return kind;
}

/** One line, like paxoskv trace prints it. */
export function describe(e: TraceEvent): string {
  const who = e.from + (e.to.length && e.kind !== "chosen" ? ` \u2192 ${e.to.join(",")}` : "");
  const tag = e.traceId && e.traceId !== "-" ? `[${e.traceId}] ` : "";
  return `${tag}${who}  ${detail(e)}`;
}
