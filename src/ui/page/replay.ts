/**
 * The Replay tab: a trace file (the simulator's --export, the page's own download, or
 * `paxoskv trace --json` lines), drawn step by step.
 */
import type { TraceEvent } from "../../protocol/trace.js";
import { HEAD_H, ROW_H, renderChosen, renderDiagram, renderLegend } from "./diagram.js";
import { $, h } from "./dom.js";
import { describe, isEvent } from "./events.js";

/** A trace file's header, if it has one (`paxoskv-trace/1`); the file is the user's: unchecked. */
interface TraceMeta {
  readonly source?: string;
  readonly seed?: number;
  readonly scenario?: string;
  readonly violation?: string | null;
  readonly unit?: string;
  readonly acceptors?: readonly string[];
}

const replay = {
  all: [] as TraceEvent[],
  /** The events of the key shown (or all). */
  list: [] as TraceEvent[],
  meta: {} as TraceMeta,
  key: "",
  step: -1,
  /** The last row displayed: setStep shows or hides only the rows between it and the step. */
  shown: -1,
  rows: [] as readonly SVGGElement[],
  body: null as SVGSVGElement | null,
  timer: null as number | null,
};

/** A JSON array of events, an object with `events`, or one event per line. */
function parseTrace(text: string): { events: TraceEvent[]; meta: TraceMeta } {
  let data: unknown = null;
  try { data = JSON.parse(text); } catch { data = null; }
  const wrapped = typeof data === "object" && data !== null && !Array.isArray(data) &&
    Array.isArray((data as { events?: unknown }).events) ? data as { events: unknown[] } : null;
  let events: unknown[];
  if (Array.isArray(data)) events = data;
  else if (wrapped) events = wrapped.events;
  else {
    events = [];
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (!line) continue;
      try { events.push(JSON.parse(line)); } catch { /* not an event line */ }
    }
  }
  const valid = events.filter(isEvent);
  if (valid.length === 0) throw new Error("no trace events in the file");
  const sorted = valid.map((e, i) => ({ e, i })).sort((a, b) => a.e.t - b.e.t || a.i - b.i)
    .map((x) => x.e);
  return { events: sorted, meta: (wrapped ?? {}) as TraceMeta };
}

export function loadReplay(text: string, name: string): void {
  let parsed: ReturnType<typeof parseTrace>;
  try {
    parsed = parseTrace(text);
  } catch (err) {
    $("replay-info").textContent = `${name}: ${err instanceof Error ? err.message : err}`;
    return;
  }
  replay.all = parsed.events;
  replay.meta = parsed.meta;
  const keys: string[] = [];
  for (const e of parsed.events) if (e.key && !keys.includes(e.key)) keys.push(e.key);
  const select = $<HTMLSelectElement>("replay-key");
  select.textContent = "";
  select.appendChild(h("option", { value: "" }, `all keys (${keys.length})`));
  for (const k of keys) select.appendChild(h("option", { value: k }, k));
  replay.key = keys.length === 1 ? keys[0] as string : "";
  select.value = replay.key;
  const m = parsed.meta;
  $("replay-info").textContent = `${name}: ${parsed.events.length} events` +
    (m.source === "sim" ? ` \u2014 simulator seed ${m.seed} (${m.scenario})` +
      (m.violation ? `, VIOLATION: ${m.violation}` : ", no violation") : "") +
    (m.source === "live" ? " \u2014 recorded live" : "");
  $("replay-controls").classList.remove("hidden");
  buildReplay();
}

/** Draws the key chosen in the replay's key list (or every key), at step 1. */
export function buildReplay(): void {
  stopPlay();
  const k = replay.key = $<HTMLSelectElement>("replay-key").value;
  replay.list = k ? replay.all.filter((e) => e.key === k || e.key === "") : replay.all;
  const m = replay.meta;
  const drawn = renderDiagram($("replay-diagram"), replay.list, {
    acceptors: Array.isArray(m.acceptors) ? m.acceptors : [],
    unit: m.unit === "tick" ? "tick" : "ms", showKey: !k, idPrefix: "r" });
  replay.rows = drawn.rows;
  replay.body = drawn.body;
  replay.shown = replay.rows.length - 1;
  renderLegend($("replay-legend"), replay.list, drawn.colors);
  setStep(0);
}

/** Shows the rows up to step i (0-based) and what happened at it. */
export function setStep(step: number): void {
  const n = replay.rows.length;
  const i = Math.max(0, Math.min(n - 1, step));
  for (let j = Math.min(i, replay.shown); j <= Math.max(i, replay.shown); j++) {
    const row = replay.rows[j];
    if (row) row.style.display = j <= i ? "" : "none";
  }
  replay.rows[replay.step]?.classList.remove("current");
  replay.step = i;
  replay.shown = i;
  const cur = replay.rows[i], e = replay.list[i];
  if (!cur || !e) return;
  cur.classList.add("current");
  replay.body?.setAttribute("height", String((i + 1) * ROW_H + 14));
  $("replay-pos").textContent = `${i + 1} / ${n}`;
  $("replay-now").textContent = (replay.meta.unit === "tick" ? `t=${e.t}  ` : "") +
    (e.key ? `${e.key}  ` : "") + describe(e);
  renderChosen($("replay-chosen"), replay.list.slice(0, i + 1));
  const wrap = $("replay-diagram");
  const top = i * ROW_H + HEAD_H;
  if (top > wrap.scrollTop + wrap.clientHeight - ROW_H * 2 || top < wrap.scrollTop + HEAD_H) {
    wrap.scrollTop = Math.max(0, top - wrap.clientHeight / 2);
  }
}

/** Steps by `delta` (the buttons, the arrow keys), pausing the play. */
export function stepBy(delta: number): void {
  stopPlay();
  setStep(replay.step + delta);
}

export function stepTo(where: "first" | "last"): void {
  stopPlay();
  setStep(where === "first" ? 0 : replay.rows.length - 1);
}

export function stopPlay(): void {
  if (replay.timer !== null) clearInterval(replay.timer);
  replay.timer = null;
  $("play").textContent = "\u25b6 play";
}

export function togglePlay(): void {
  if (replay.timer !== null) return stopPlay();
  if (replay.step >= replay.rows.length - 1) setStep(0);
  $("play").textContent = "\u2016 pause";
  replay.timer = setInterval(() => {
    if (replay.step >= replay.rows.length - 1) return stopPlay();
    setStep(replay.step + 1);
  }, Number($<HTMLSelectElement>("speed").value));
}

/** Restarts a running play at the speed just chosen. */
export function changeSpeed(): void {
  if (replay.timer !== null) { stopPlay(); togglePlay(); }
}

export function readFile(file: File): void {
  const reader = new FileReader();
  reader.onload = () => { loadReplay(String(reader.result), file.name); };
  reader.readAsText(file);
}
