/**
 * The Live tab: an EventSource on /api/trace?pattern=… collects trace events per key (the
 * newest key first) and draws the selected key's; POST /api/race runs the seed's scenario.
 */
import { keyMatches, type TraceEvent } from "../../protocol/trace.js";
import type { RaceReply, RaceResult, TraceReady } from "../api.js";
import { cluster } from "./cluster.js";
import { renderChosen, renderDiagram, renderLegend } from "./diagram.js";
import { $, h } from "./dom.js";
import { isEvent } from "./events.js";

const EVENTS_PER_KEY_MAX = 2000, KEYS_MAX = 200;

export const live = {
  byKey: new Map<string, TraceEvent[]>(),
  /** The keys, the one with the newest event first. */
  order: [] as string[],
  selected: "",
  /** Show the key of the newest event as it arrives. */
  follow: true,
  es: null as EventSource | null,
  pattern: "",
  ready: false,
  waiters: [] as (() => void)[],
  pending: false,
};

function setTraceStatus(text: string): void { $("trace-status").textContent = text; }

export function connectTrace(pattern: string): void {
  if (live.es) live.es.close();
  live.pattern = pattern;
  live.ready = false;
  setTraceStatus(`connecting to the trace feed for ${pattern} \u2026`);
  const es = new EventSource(`/api/trace?pattern=${encodeURIComponent(pattern)}`);
  es.addEventListener("ready", (m) => {
    const d = JSON.parse(m.data) as TraceReady;
    live.ready = true;
    setTraceStatus(`tracing ${d.pattern} on ` +
      (d.nodes.length ? `node(s) ${d.nodes.join(", ")}` : "no node (none answered)"));
    const waiters = live.waiters;
    live.waiters = [];
    waiters.forEach((f) => f());
  });
  es.addEventListener("trace", (m) => {
    let e: unknown;
    try { e = JSON.parse(m.data); } catch { return; }
    if (isEvent(e)) addLive(e);
  });
  es.onerror = () => {
    live.ready = false;
    setTraceStatus("trace feed interrupted; reconnecting \u2026");
  };
  live.es = es;
}

function waitReady(): Promise<void> {
  return new Promise((resolve) => {
    if (live.ready) resolve(); else live.waiters.push(resolve);
  });
}

function addLive(e: TraceEvent): void {
  let list = live.byKey.get(e.key);
  if (!list) {
    list = [];
    live.byKey.set(e.key, list);
    if (live.order.length >= KEYS_MAX) live.byKey.delete(live.order.pop() as string);
  }
  const i = live.order.indexOf(e.key);
  if (i > 0) live.order.splice(i, 1);
  if (i !== 0) live.order.unshift(e.key);
  if (list.length >= EVENTS_PER_KEY_MAX) list.shift();
  let at = list.length;
  while (at > 0 && (list[at - 1] as TraceEvent).t > e.t) at--;
  list.splice(at, 0, e);
  if (live.follow || !live.selected) live.selected = e.key;
  scheduleLive();
}

function scheduleLive(): void {
  if (live.pending) return;
  live.pending = true;
  requestAnimationFrame(() => { live.pending = false; renderLive(); });
}

/** The selected key's events. */
export function liveEvents(): TraceEvent[] {
  return live.byKey.get(live.selected) ?? [];
}

export function renderLive(): void {
  const select = $<HTMLSelectElement>("key");
  select.textContent = "";
  for (const k of live.order) {
    const o = h("option", { value: k }, k);
    if (k === live.selected) o.selected = true;
    select.appendChild(o);
  }
  const events = liveEvents();
  const drawn = renderDiagram($("diagram"), events, { acceptors: cluster.acceptors, unit: "ms",
    idPrefix: "l", empty: "No messages yet: press \u201cRace\u201d, or create a key matching the " +
      "pattern (e.g. paxoskv create race.X 3)." });
  renderChosen($("chosen"), events);
  renderLegend($("legend"), events, drawn.colors);
  $<HTMLButtonElement>("download").disabled = events.length === 0;
  $<HTMLButtonElement>("to-replay").disabled = events.length === 0;
}

function raceSummary(r: RaceResult): void {
  const box = $("race-result");
  box.textContent = "";
  box.setAttribute("data-key", r.key);
  box.appendChild(document.createTextNode(`${r.key}: `));
  r.results.forEach((c, i) => {
    if (i > 0) box.appendChild(document.createTextNode("  \u00b7  "));
    box.appendChild(h("span", c.created ? { class: "won" } : {}, c.error
      ? `${c.client} proposed ${c.proposed} \u2192 ${c.error.code}`
      : `${c.client} proposed ${c.proposed} \u2192 chosen ${c.value}` +
        (c.created ? " (created)" : " (not created)")));
  });
  let note = r.proposers.length >= 2 ? `  \u00b7  proposers ${r.proposers.join(" and ")} duelled`
    : `  \u00b7  both requests reached node ${r.proposers.join(",")}, which runs one proposal ` +
      "per key for both";
  if (r.attempts.length > 1) {
    note += ` (after ${r.attempts.length - 1} attempt(s) where NATS gave both requests to one ` +
      "node)";
  }
  box.appendChild(h("span", { class: "muted" }, note));
}

/** The seed's race: traces race.> first (the page must see every message), then POSTs. */
export function race(): void {
  const button = $<HTMLButtonElement>("race");
  button.disabled = true;
  $("race-result").textContent = "racing \u2026";
  $("race-result").removeAttribute("data-key");
  if (!keyMatches(live.pattern, "race.x")) {
    $<HTMLInputElement>("pattern").value = "race.>";
    connectTrace("race.>");
  }
  live.follow = true;
  waitReady().then(() => fetch("/api/race", { method: "POST",
    headers: { "content-type": "application/json" }, body: "{}" }))
    .then((r) => r.json() as Promise<RaceReply>).then((r) => {
      if (!r.ok) throw new Error(r.error || "race failed");
      live.follow = false;
      live.selected = r.key;
      raceSummary(r);
      scheduleLive();
    }).catch((err: unknown) => {
      $("race-result").textContent = `race failed: ${err instanceof Error ? err.message : err}`;
    }).then(() => { button.disabled = false; });
}

/** The selected key's trace as a file the Replay tab reads. */
export function traceFile(events: readonly TraceEvent[]): string {
  return JSON.stringify({ format: "paxoskv-trace/1", source: "live", unit: "ms",
    acceptors: cluster.acceptors, events }, null, 1);
}

export function download(events: readonly TraceEvent[], name: string): void {
  const a = h("a", { href: URL.createObjectURL(new Blob([traceFile(events)],
    { type: "application/json" })), download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
}
