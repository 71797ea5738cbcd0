/**
 * The scale run as a picture: creates/s and every process's memory against the keys created.
 * The chart is an SVG drawn here; Chromium (through playwright-core, a development
 * dependency) turns it into a PNG.
 */
import { existsSync, writeFileSync } from "node:fs";
import type { ScaleResult } from "./scale.js";

interface Series {
  readonly label: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly (readonly [number, number])[];
}

const WIDTH = 1000;
const PANEL_HEIGHT = 340;
const MARGIN = { left: 70, right: 270, top: 40, bottom: 45 };

/** A round step near span/5 (1, 2 or 5 times a power of ten). */
function tickStep(span: number): number {
  const raw = span / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
}

function fmt(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(1)}`;
}

function panel(title: string, unit: string, series: readonly Series[], top: number,
  maxX: number): string {
  const w = WIDTH - MARGIN.left - MARGIN.right;
  const h = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  const yStep = tickStep(Math.max(1, ...ys) * 1.1);
  const maxY = Math.ceil((Math.max(1, ...ys) * 1.1) / yStep) * yStep;
  const xStep = tickStep(maxX);
  const x = (v: number) => MARGIN.left + (v / maxX) * w;
  const y = (v: number) => top + MARGIN.top + h - (v / maxY) * h;
  const parts: string[] = [
    `<text x="${MARGIN.left}" y="${top + 24}" font-size="16" font-weight="bold">${title}</text>`,
  ];
  for (let v = 0; v <= maxY + 1e-9; v += yStep) {
    parts.push(`<line x1="${x(0)}" x2="${x(maxX)}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${x(0) - 8}" y="${y(v) + 4}" text-anchor="end" font-size="12">${fmt(v)}</text>`);
  }
  for (let v = 0; v <= maxX + 1e-9; v += xStep) {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${y(0)}" y2="${y(0) + 5}" stroke="#333"/>`,
      `<text x="${x(v)}" y="${y(0) + 20}" text-anchor="middle" font-size="12">${fmt(v)}</text>`);
  }
  parts.push(`<line x1="${x(0)}" x2="${x(maxX)}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`,
    `<text x="${x(maxX)}" y="${y(0) + 38}" text-anchor="end" font-size="12">keys created</text>`,
    `<text x="${x(0) - 55}" y="${y(maxY / 2)}" font-size="12" transform="rotate(-90 ${x(0) - 55}` +
      ` ${y(maxY / 2)})" text-anchor="middle">${unit}</text>`);
  series.forEach((s, i) => {
    const points = s.points.filter(([, v]) => Number.isFinite(v));
    const d = points.map(([px, py], j) => `${j === 0 ? "M" : "L"}${x(px).toFixed(1)},${y(py).toFixed(1)}`)
      .join(" ");
    const dash = s.dashed === true ? ` stroke-dasharray="6 4"` : "";
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const [px, py] of points) {
      parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    }
    const ly = top + MARGIN.top + 10 + i * 20;
    const lx = WIDTH - MARGIN.right + 20;
    parts.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${s.color}" ` +
      `stroke-width="2"${dash}/>`,
    `<text x="${lx + 30}" y="${ly + 4}" font-size="12">${s.label}</text>`);
  });
  return parts.join("\n");
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

/** The SVG: throughput (and p99) on top, memory below. */
export function scaleSvg(r: ScaleResult): string {
  const loaded = r.samples.filter((s) => s.keys > 0);
  const all = r.samples;
  const maxX = r.options.keys;
  const ids = all[0]?.nodes.map((n) => n.id) ?? [];
  const acceptorIds = all[0]?.acceptors.map((a) => a.id) ?? [];
  const natsCount = all[0]?.natsRssMb.length ?? 0;
  const memory: Series[] = [
    ...ids.map((id, i) => ({ label: `node ${id} RSS`, color: COLORS[i % COLORS.length] as string,
      points: all.map((s) => [s.keys, s.nodes.find((n) => n.id === id)?.rssMb ?? NaN] as const) })),
    // The live heap (after a full collection), not heap used: that one is mostly garbage.
    ...ids.map((id, i) => ({ label: `node ${id} V8 live heap`,
      color: COLORS[i % COLORS.length] as string, dashed: true,
      points: all.map((s) => [s.keys, s.nodes.find((n) => n.id === id)?.heapLiveMb ?? NaN] as const) })),
    ...Array.from({ length: natsCount }, (_, i) => ({
      label: natsCount === 1 ? "nats-server RSS" : `nats-server ${i + 1} RSS`,
      color: "#9467bd", dashed: i > 0,
      points: all.map((s) => [s.keys, s.natsRssMb[i] ?? NaN] as const) })),
    { label: `acceptor Redis used_memory (${acceptorIds.length > 1 ? "mean" : "one"})`,
      color: "#8c564b", points: all.map((s) => [s.keys,
        s.acceptors.reduce((sum, a) => sum + a.usedMemoryMb, 0) / Math.max(1, s.acceptors.length),
      ] as const) },
    { label: "replica on disk (node A)", color: "#7f7f7f", dashed: true,
      points: all.map((s) => [s.keys, s.nodes[0]?.replicaDiskMb ?? NaN] as const) },
  ];
  const throughput: Series[] = [
    { label: "creates/s (each tenth)", color: COLORS[0] as string,
      points: loaded.map((s) => [s.keys, s.createsPerSec] as const) },
  ];
  const latency: Series[] = [
    { label: "p50 ms", color: COLORS[2] as string, points: loaded.map((s) => [s.keys, s.p50Ms] as const) },
    { label: "p99 ms", color: COLORS[3] as string, points: loaded.map((s) => [s.keys, s.p99Ms] as const) },
  ];
  const o = r.options;
  const height = 3 * PANEL_HEIGHT + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n` +
    `<text x="${MARGIN.left}" y="22" font-size="14">paxoskv bench --scale ${o.keys} ` +
    `(${o.valueBytes}-byte values, ${o.concurrency} in flight, ${o.natsServers} NATS ` +
    `server${o.natsServers === 1 ? "" : "s"}, acceptors: ${o.acceptors ?? "redis"}): ` +
    `${r.errors} errors; learner restart ready in ${(r.restart.readyMs / 1000).toFixed(1)} s</text>\n` +
    panel("Create throughput", "creates/s", throughput, 40, maxX) + "\n" +
    panel("Create latency", "ms", latency, 40 + PANEL_HEIGHT, maxX) + "\n" +
    panel("Memory", "MB", memory, 40 + 2 * PANEL_HEIGHT, maxX) + "\n</svg>\n";
}

/** Renders the SVG in Chromium and writes a PNG to `file`. */
export async function writeScaleGraph(r: ScaleResult, file: string): Promise<void> {
  const executablePath = process.env.PAXOSKV_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium is not at ${executablePath}: install it (apt-get install -y ` +
      "chromium) or point PAXOSKV_CHROMIUM at one");
  }
  let playwright: typeof import("playwright-core");
  try {
    playwright = await import("playwright-core");
  } catch {
    throw new Error("the graph needs playwright-core (a development dependency: npm ci)");
  }
  const svg = scaleSvg(r);
  if (file.endsWith(".svg")) {
    writeFileSync(file, svg);
    return;
  }
  const browser = await playwright.chromium.launch({
    executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage();
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    await page.locator("svg").screenshot({ path: file });
  } finally {
    await browser.close();
  }
}
