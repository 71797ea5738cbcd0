/** The page's stylesheet (inlined: tsc copies no assets, so dist/ serves the same page). */
export const PAGE_STYLE = String.raw`
:root {
  --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f8fafc; --card: #ffffff;
  --ok: #15803d; --ok-bg: #dcfce7; --bad: #dc2626; --bad-bg: #fee2e2; --warn: #b45309;
  --accent: #2563eb;
}
* { box-sizing: border-box; }
body {
  margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg);
}
header {
  display: flex; align-items: center; gap: 16px; padding: 10px 20px;
  background: #111827; color: #f9fafb;
}
header h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
header .sub { color: #9ca3af; font-size: 13px; }
header nav { margin-left: auto; display: flex; gap: 4px; }
header nav button {
  background: transparent; color: #d1d5db; border: 1px solid #374151; border-radius: 6px;
  padding: 4px 12px; cursor: pointer; font: inherit;
}
header nav button.active { background: #f9fafb; color: #111827; }
main { padding: 16px 20px 40px; max-width: 1400px; margin: 0 auto; }
section.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; margin-bottom: 16px;
}
section.card h2 { font-size: 15px; margin: 0 0 10px; }
.row { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
.muted { color: var(--muted); }
.chip {
  display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px;
  border: 1px solid var(--line); font-size: 13px; background: #f9fafb;
}
.chip .dot { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); }
.chip.up .dot { background: var(--ok); }
.chip.down { background: var(--bad-bg); border-color: #fecaca; }
.chip.down .dot { background: var(--bad); }
.cluster-grid { display: grid; grid-template-columns: 1fr; gap: 12px; }
table.nodes { border-collapse: collapse; width: 100%; font-size: 13px; }
table.nodes th, table.nodes td {
  text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap;
}
table.nodes th { color: var(--muted); font-weight: 600; }
table.nodes td.num { text-align: right; font-variant-numeric: tabular-nums; }
.errors { color: var(--bad); font-size: 12px; }
input[type=text], select {
  font: inherit; padding: 4px 8px; border: 1px solid #d1d5db; border-radius: 6px;
  background: #fff;
}
button.act {
  font: inherit; padding: 5px 14px; border-radius: 6px; border: 1px solid #d1d5db;
  background: #fff; cursor: pointer;
}
button.act:hover { background: #f3f4f6; }
button.act:disabled { opacity: .5; cursor: default; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.primary:hover { background: #1d4ed8; }
#race-result { font-size: 13px; }
#race-result .won { color: var(--ok); font-weight: 600; }
.banner {
  margin: 10px 0; padding: 8px 12px; border-radius: 8px; font-weight: 600;
  background: var(--ok-bg); color: #14532d; border: 1px solid #86efac;
}
.banner.empty { background: #f3f4f6; color: var(--muted); border-color: var(--line); font-weight: 400; }
.banner.violation { background: var(--bad-bg); color: #7f1d1d; border-color: #fca5a5; }
.diagram-wrap {
  border: 1px solid var(--line); border-radius: 8px; overflow: auto; max-height: 72vh;
  background: #fff; position: relative;
}
.diagram-wrap .lanes-head { position: sticky; top: 0; z-index: 2; display: block; }
.diagram-wrap svg.diagram { display: block; }
.diagram-empty { padding: 30px; text-align: center; color: var(--muted); }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
svg .lane-name { font-weight: 700; font-size: 13px; }
svg .lane-role { fill: var(--muted); font-size: 11px; }
svg .time { fill: var(--muted); font-size: 11px; font-variant-numeric: tabular-nums; }
svg .lbl { paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
svg .lbl.nack, svg .lbl.gave-up, svg .lbl.fault { fill: var(--bad); }
svg .lbl.chosen { fill: #14532d; font-weight: 700; stroke: none; }
svg .lbl.retry { fill: var(--warn); }
svg g.ev.ev-chosen rect.bg { fill: #f0fdf4; }
svg g.ev.ev-fault rect.bg { fill: #f9fafb; }
svg g.ev.current rect.bg, svg g.ev.ev-fault.current rect.bg { fill: #fef08a; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 8px; font-size: 12px; color: var(--muted); }
.legend .sw { display: inline-block; width: 22px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: 5px; }
.legend .sw.dashed { border-top-style: dashed; }
#dropzone {
  border: 2px dashed #cbd5e1; border-radius: 10px; padding: 18px; text-align: center;
  color: var(--muted); margin-bottom: 10px;
}
#dropzone.over { border-color: var(--accent); background: #eff6ff; }
#replay-now {
  font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f4f6;
  padding: 6px 10px; border-radius: 6px; min-height: 30px; margin: 8px 0; white-space: pre-wrap;
}
.hidden { display: none !important; }
`;
