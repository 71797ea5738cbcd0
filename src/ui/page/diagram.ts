/**
 * Trace events drawn as a sequence diagram: one lane per client, proposer and acceptor, one
 * row per event. The banner says what was chosen; the legend names each proposal's colour.
 */
import type { TraceEvent } from "../../protocol/trace.js";
import { h, s } from "./dom.js";
import { describe, label } from "./events.js";

const PALETTE = ["#2563eb", "#ea580c", "#7c3aed", "#0891b2", "#db2777", "#4d7c0f", "#9333ea"];
const GREEN = "#16a34a", RED = "#dc2626", GRAY = "#6b7280";
const LANE_W = 150, GUTTER = 86, PAD_R = 30;
export const ROW_H = 28, HEAD_H = 50;

interface Lane { readonly id: string; readonly name: string; readonly role: string }

interface Lanes {
  readonly list: readonly Lane[];
  /** The lane an event starts from, or -1. */
  from(e: TraceEvent): number;
  /** The lane of one of an event's recipients, or -1. */
  to(e: TraceEvent, name: string): number;
}

/** Lanes: clients, then proposers, then acceptors (a node that is both has two lanes). */
function lanesOf(events: readonly TraceEvent[], acceptors: readonly string[]): Lanes {
  const clients: string[] = [], proposers: string[] = [], accs: string[] = [];
  const proposes = new Map<string, (string | undefined)[]>();
  const add = (list: string[], id: string) => { if (id && !list.includes(id)) list.push(id); };
  acceptors.forEach((a) => add(accs, a));
  for (const e of events) {
    switch (e.kind) {
      case "request": {
        add(clients, e.from);
        e.to.forEach((t) => add(proposers, t));
        const values = proposes.get(e.from) ?? [];
        proposes.set(e.from, values);
        if (!values.includes(e.value)) values.push(e.value);
        break;
      }
      case "reply": add(proposers, e.from); e.to.forEach((t) => add(clients, t)); break;
      case "prepare": case "accept": case "chosen":
        add(proposers, e.from); e.to.forEach((t) => add(accs, t)); break;
      case "promise": case "accepted": case "nack":
        add(accs, e.from); e.to.forEach((t) => add(proposers, t)); break;
      case "retry": case "gave-up": add(proposers, e.from); break;
    }
  }
  clients.sort(); proposers.sort(); accs.sort();
  const list: Lane[] = [
    ...clients.map((c) => {
      const values = proposes.get(c);
      const role = values ? `client, proposes ${values.join(", ")}` : "client";
      return { id: `c:${c}`, name: c, role };
    }),
    ...proposers.map((p) => ({ id: `p:${p}`, name: p, role: "proposer" })),
    ...accs.map((a) => ({ id: `a:${a}`, name: a, role: "acceptor" })),
  ];
  const index = new Map(list.map((lane, i) => [lane.id, i]));
  const find = (name: string, order: readonly string[]): number => {
    for (const o of order) {
      const i = index.get(`${o}:${name}`);
      if (i !== undefined) return i;
    }
    return -1;
  };
  return {
    list,
    from(e) {
      switch (e.kind) {
        case "request": return find(e.from, ["c"]);
        case "promise": case "accepted": case "nack": return find(e.from, ["a"]);
        case "fault": return find(e.from, ["a", "p", "c"]);
        default: return find(e.from, ["p"]);
      }
    },
    to(e, name) {
      switch (e.kind) {
        case "request": case "promise": case "accepted": case "nack": return find(name, ["p"]);
        case "reply": return find(name, ["c"]);
        case "fault": return find(name, ["a", "p", "c"]);
        default: return find(name, ["a"]);
      }
    },
  };
}

function laneX(i: number): number { return GUTTER + LANE_W * i + LANE_W / 2; }

interface Chosen {
  readonly values: (string | undefined)[];
  /** The winning ballots, to mark their Accepts. */
  readonly ballots: Set<string | undefined>;
  /** The proposers that learned it. */
  readonly by: Set<string>;
}

/** What was chosen per key. */
function chosenOf(events: readonly TraceEvent[]): Map<string, Chosen> {
  const byKey = new Map<string, Chosen>();
  for (const e of events) {
    if (e.kind !== "chosen") continue;
    const c = byKey.get(e.key) ?? { values: [], ballots: new Set(), by: new Set() };
    byKey.set(e.key, c);
    if (!c.values.includes(e.value)) c.values.push(e.value);
    c.ballots.add(e.ballot);
    c.by.add(e.from);
  }
  return byKey;
}

export interface DiagramOptions {
  readonly acceptors: readonly string[];
  /** Live traces are timed in ms since their first event; simulator exports in ticks. */
  readonly unit: "ms" | "tick";
  /** Keeps the arrow markers' ids apart between the live and the replay diagram. */
  readonly idPrefix: string;
  readonly empty?: string;
  /** Label each row with its key (a replay of several keys). */
  readonly showKey?: boolean;
}

export interface Drawn {
  /** One row group per event, in order, so a replay can show a prefix of the rows. */
  readonly rows: readonly SVGGElement[];
  readonly body: SVGSVGElement | null;
  /** Each proposal's (trace ID's) colour. */
  readonly colors: ReadonlyMap<string, string>;
}

/** The sticky header: one box per lane. */
function drawHead(lanes: Lanes, width: number): SVGSVGElement {
  const head = s("svg", { class: "lanes-head", width, height: HEAD_H });
  head.appendChild(s("rect", { x: 0, y: 0, width, height: HEAD_H, fill: "#ffffff" }));
  lanes.list.forEach((lane, i) => {
    const x = laneX(i), kind = lane.id.charAt(0);
    const fill = kind === "c" ? "#f1f5f9" : kind === "p" ? "#eff6ff" : "#fefce8";
    const role = kind === "c" ? "client" : kind === "p" ? "proposer" : "acceptor";
    const g = s("g", { class: `lane lane-${role}`, "data-lane": lane.id });
    g.appendChild(s("rect", { x: x - LANE_W / 2 + 8, y: 5, width: LANE_W - 16, height: HEAD_H - 10,
      rx: 7, fill, stroke: "#cbd5e1" }));
    g.appendChild(s("text", { x, y: 24, "text-anchor": "middle", class: "lane-name" }, lane.name));
    g.appendChild(s("text", { x, y: 39, "text-anchor": "middle", class: "lane-role" }, lane.role));
    head.appendChild(g);
  });
  head.appendChild(s("line", { x1: 0, y1: HEAD_H - 0.5, x2: width, y2: HEAD_H - 0.5,
    stroke: "#e5e7eb" }));
  return head;
}

/** What drawing one row needs besides its event. */
interface RowContext {
  readonly lanes: Lanes;
  readonly width: number;
  readonly chosen: ReadonlyMap<string, Chosen>;
  readonly opts: DiagramOptions;
  readonly t0: number;
  colorOf(traceId: string): string;
  /** The arrowhead marker of a colour, as a `url(#…)`. */
  marker(color: string): string;
}

/** A row without arrows: chosen (a pill, dots on its acceptors), retry, gave-up, a lone fault. */
function drawMark(g: SVGGElement, e: TraceEvent, ctx: RowContext, y: number, color: string,
  text: string): void {
  const from = ctx.lanes.from(e);
  const x = from >= 0 ? laneX(from) : GUTTER + 60;
  if (e.kind !== "chosen") {
    const fill = e.kind === "retry" ? "#f59e0b" : color;
    g.appendChild(s("circle", { cx: x, cy: y, r: 4, fill }));
    g.appendChild(s("text", { x: x + 10, y: y + 4, class: `lbl ${e.kind}` }, text));
    return;
  }
  for (const a of e.to) {
    const ai = ctx.lanes.to(e, a);
    if (ai >= 0) g.appendChild(s("circle", { cx: laneX(ai), cy: y, r: 5, fill: GREEN }));
  }
  let pill = `\u2605 chosen ${e.key.length <= 12 ? `${e.key} = ` : ""}${e.value || ""}`;
  if (ctx.opts.showKey && e.key.length > 12) pill = `[${e.key}] ${pill}`;
  g.appendChild(s("rect", { class: "pill", x: x - 10, y: y - 13, width: 7.4 * pill.length + 22,
    height: 21, rx: 10, fill: "#bbf7d0", stroke: GREEN }));
  g.appendChild(s("text", { x, y: y + 2, class: "lbl chosen" }, pill));
}

/** A message: an arrow to each recipient (a fault's is dashed and crossed out), and its label. */
function drawArrows(g: SVGGElement, e: TraceEvent, ctx: RowContext, y: number, color: string,
  text: string, winning: boolean): void {
  const from = ctx.lanes.from(e);
  const targets = e.to.map((t) => ctx.lanes.to(e, t)).filter((i) => i >= 0);
  const x1 = from >= 0 ? laneX(from) : GUTTER;
  const reply = e.kind === "promise" || e.kind === "accepted" || e.kind === "nack" ||
    e.kind === "reply";
  for (const ti of targets) {
    const x2 = laneX(ti);
    const dir = x2 > x1 ? 1 : -1;
    const attrs: Record<string, string | number> = {
      x1: x1 + dir * 3, y1: y, x2: x2 - dir * 3, y2: y, stroke: color,
      "stroke-width": winning ? 3 : e.kind === "request" || e.kind === "reply" ? 1.6 : 1.8,
    };
    if (reply || e.kind === "fault") attrs["stroke-dasharray"] = "6 4";
    if (e.kind === "fault") {
      g.appendChild(s("line", attrs));
      g.appendChild(s("text", { x: x2, y: y + 5, "text-anchor": "middle", fill: RED,
        "font-weight": "700" }, "\u2715"));
    } else {
      attrs["marker-end"] = ctx.marker(color);
      g.appendChild(s("line", attrs));
    }
    if (winning) {
      g.insertBefore(s("line", { x1: attrs.x1 as number, y1: y, x2: attrs.x2 as number, y2: y,
        stroke: "#86efac", "stroke-width": 8, "stroke-linecap": "round" }),
      g.childNodes[2] ?? null);
    }
  }
  const far = targets.length ? targets.reduce((a, b) =>
    Math.abs(laneX(b) - x1) > Math.abs(laneX(a) - x1) ? b : a) : from;
  const right = laneX(far) >= x1;
  g.appendChild(s("text", { x: right ? x1 + 10 : x1 - 10, y: y - 6,
    "text-anchor": right ? "start" : "end", class: `lbl ${e.kind}`, fill: color }, text));
}

/** Row r: its background, its tooltip, its time, then its mark or its arrows. */
function drawRow(e: TraceEvent, r: number, ctx: RowContext): SVGGElement {
  const y = r * ROW_H + ROW_H - 8;
  const win = ctx.chosen.get(e.key);
  const winning = !!(win && e.ballot && win.ballots.has(e.ballot) &&
    (e.kind === "accept" || e.kind === "accepted"));
  const g = s("g", { class: `ev ev-${e.kind}${winning ? " winning" : ""}`, "data-i": r,
    "data-kind": e.kind, "data-key": e.key, "data-trace": String(e.traceId), "data-from": e.from,
    "data-to": e.to.join(",") });
  if (e.value !== undefined) g.setAttribute("data-value", e.value);
  g.appendChild(s("rect", { class: "bg", x: 0, y: r * ROW_H, width: ctx.width, height: ROW_H,
    fill: "transparent" }));
  g.appendChild(s("title", {}, describe(e) + (ctx.opts.showKey ? `  (${e.key})` : "")));
  const time = ctx.opts.unit === "tick" ? `t=${e.t}` : `+${(e.t - ctx.t0).toFixed(1)} ms`;
  g.appendChild(s("text", { x: GUTTER - 10, y: y + 4, "text-anchor": "end", class: "time" }, time));
  const text = (ctx.opts.showKey && e.key ? `[${e.key}] ` : "") + label(e);
  const color = e.kind === "nack" || e.kind === "gave-up" ? RED : e.kind === "fault" ? GRAY :
    ctx.colorOf(e.traceId);
  if (e.kind === "chosen" || e.kind === "retry" || e.kind === "gave-up" ||
      (e.kind === "fault" && e.to.length === 0)) {
    drawMark(g, e, ctx, y, color, text);
  } else {
    drawArrows(g, e, ctx, y, color, text, winning);
  }
  return g;
}

/** Draws events as a sequence diagram into host. */
export function renderDiagram(host: HTMLElement, events: readonly TraceEvent[],
  opts: DiagramOptions): Drawn {
  host.textContent = "";
  const colors = new Map<string, string>();
  const first = events[0];
  if (first === undefined) {
    host.appendChild(h("div", { class: "diagram-empty" }, opts.empty || "no messages yet"));
    return { rows: [], body: null, colors };
  }
  const lanes = lanesOf(events, opts.acceptors);
  const width = GUTTER + LANE_W * lanes.list.length + PAD_R;
  const height = ROW_H * events.length + 14;
  const body = s("svg", { class: "diagram", width, height });
  const defs = s("defs");
  const markers = new Map<string, string>();
  body.appendChild(defs);
  const ctx: RowContext = {
    lanes, width, chosen: chosenOf(events), opts, t0: first.t,
    colorOf(traceId) {
      const color = colors.get(traceId) ?? PALETTE[colors.size % PALETTE.length] as string;
      colors.set(traceId, color);
      return color;
    },
    marker(color) {
      const known = markers.get(color);
      if (known !== undefined) return known;
      const id = `m${markers.size}${opts.idPrefix}`;
      const m = s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 10,
        markerHeight: 10, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" });
      m.appendChild(s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: color }));
      defs.appendChild(m);
      markers.set(color, `url(#${id})`);
      return `url(#${id})`;
    },
  };
  lanes.list.forEach((_lane, i) => {
    body.appendChild(s("line", { x1: laneX(i), y1: 0, x2: laneX(i), y2: height,
      stroke: "#d1d5db", "stroke-dasharray": "3 4" }));
  });
  const rows = events.map((e, r) => body.appendChild(drawRow(e, r, ctx)));
  host.appendChild(drawHead(lanes, width));
  host.appendChild(body);
  // Fit the chosen pills to their text, once the browser can measure it (not while hidden).
  for (const g of rows) {
    const pill = g.querySelector("rect.pill");
    const text = g.querySelector<SVGTextElement>("text.chosen");
    const w = pill && text ? text.getComputedTextLength() : 0;
    if (pill && w > 0) pill.setAttribute("width", String(w + 22));
  }
  return { rows, body, colors };
}

/** The banner: the chosen value of each key shown, or a violation when two differ. */
export function renderChosen(node: HTMLElement, events: readonly TraceEvent[]): void {
  const chosen = chosenOf(events);
  node.className = "banner";
  node.removeAttribute("data-value");
  if (chosen.size === 0) {
    node.className = "banner empty";
    node.textContent = "nothing chosen yet";
    return;
  }
  const all = [...chosen];
  const parts = all.map(([k, c]) => `${k} = ${c.values.join(" and ")}` +
    (c.values.length > 1 ? "  \u2014 TWO VALUES CHOSEN" : "") +
    `  (learned by proposer ${[...c.by].join(", ")})`);
  if (all.some(([, c]) => c.values.length > 1)) node.className = "banner violation";
  const only = all.length === 1 ? all[0] : undefined;
  if (only !== undefined) node.setAttribute("data-value", only[1].values.join(","));
  node.setAttribute("data-values", all.map(([, c]) => c.values.join(",")).join(";"));
  node.textContent = `\u2605 chosen: ${parts.join("   \u00b7   ")}`;
}

export function renderLegend(node: HTMLElement, events: readonly TraceEvent[],
  colors: ReadonlyMap<string, string>): void {
  node.textContent = "";
  const item = (swatch: string, color: string, text: string) => {
    const span = h("span"), sw = h("span", { class: swatch });
    sw.style.borderColor = color;
    span.appendChild(sw);
    span.appendChild(document.createTextNode(text));
    node.appendChild(span);
  };
  const seen = new Set<string>();
  for (const e of events) {
    const color = colors.get(e.traceId);
    if (e.kind !== "prepare" || seen.has(e.traceId) || color === undefined) continue;
    seen.add(e.traceId);
    item("sw", color, `proposal ${e.traceId} by ${e.from}`);
  }
  item("sw dashed", RED, "Nack (rejected)");
  item("sw ", "#86efac", "Accept/Accepted of the chosen ballot");
  item("sw dashed", GRAY, "replies are dashed");
}
