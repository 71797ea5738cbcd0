/** The report table of a chaos run. */
import type { Op } from "../../src/check/index.js";
import type { FaultRecord } from "./nemesis.js";

export interface ReportInput {
  readonly seed: number;
  readonly seconds: number;
  readonly ops: readonly Op[];
  readonly faults: readonly FaultRecord[];
  readonly anomalies: readonly { rule: string; key: string; message: string }[];
  readonly wallMs: number;
  readonly failpoints: number;
  readonly samples: number;
  /** Failures of the infrastructure the design tolerates (e.g. JetStream losing messages). */
  readonly infrastructure?: readonly string[];
  /** Each acceptor on a 3-primary Redis Cluster (`--redis-cluster`). */
  readonly redisCluster?: boolean;
}

const OUTCOMES = ["created", "exists", "value", "absent", "fail", "unknown"] as const;

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [head, ...rows].map((r) => r.map(String));
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) => "| " + r.map((c, i) =>
    i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (i === 0 ? "-" : "-").repeat(w + 1) + (i === 0 ? "-" : ":")).join("|") + "|";
  return [line(cells[0] as string[]), rule, ...cells.slice(1).map(line)].join("\n");
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export function formatReport(input: ReportInput): string {
  const out: string[] = [];
  const run = input.ops.filter((op) => op.phase === "run");
  const later = input.ops.filter((op) => op.phase !== "run");
  out.push(`paxoskv chaos report: seed ${input.seed}, ${input.seconds} s of faults ` +
    `(${Math.round(input.wallMs / 1000)} s wall), 3 NATS servers (JetStream R3), ` +
    `${input.redisCluster === true ? "3 acceptor Redis Clusters of 3 primaries" :
      "3 acceptor Redis"} (AOF always), nodes A B C + learner D`);
  out.push("");
  out.push(`Operations during the faults (${run.length}; ${later.length} more in heal/final/restart phases):`);
  const rows = (["create", "lread", "rread"] as const).map((kind) => {
    const ops = run.filter((op) => op.kind === kind);
    return [kind, ops.length, ...OUTCOMES.map((o) => ops.filter((op) => op.outcome.type === o).length)];
  });
  out.push(table(["kind", "total", ...OUTCOMES], rows));
  const laterRows = (["create", "lread", "rread"] as const).map((kind) => {
    const ops = later.filter((op) => op.kind === kind);
    return [kind, ops.length, ...OUTCOMES.map((o) => ops.filter((op) => op.outcome.type === o).length)];
  });
  out.push("");
  out.push("Operations after the faults (heal, final reads, full restart):");
  out.push(table(["kind", "total", ...OUTCOMES], laterRows));

  const unknownCreates = input.ops.filter((op) => op.kind === "create" && op.outcome.type === "unknown");
  const codes = new Map<string, number>();
  for (const op of unknownCreates) {
    const code = op.outcome.type === "unknown" ? op.outcome.code ?? "?" : "?";
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  out.push("");
  out.push(`Unknown outcomes: ${unknownCreates.length} creates (` +
    ([...codes].map(([c, n]) => `${c} ${n}`).join(", ") || "none") + "); reads that failed are dropped " +
    `(${input.ops.filter((op) => op.kind !== "create" && (op.outcome.type === "fail" || op.outcome.type === "unknown")).length})`);
  const unknown = input.ops.filter((op) => op.outcome.type === "unknown").length;
  // Row C4's target for rolling restarts: at least 99 % of operations end other than unknown.
  out.push(`Operations that ended unknown: ${unknown} of ${input.ops.length} ` +
    `(${(100 * unknown / Math.max(1, input.ops.length)).toFixed(2)} %)`);

  out.push("");
  out.push(`Faults (${input.faults.length}; recovery = from heal until a create invoked after it succeeds):`);
  const kinds = [...new Set(input.faults.map((f) => f.kind))].sort();
  const faultRows = kinds.map((kind) => {
    const faults = input.faults.filter((f) => f.kind === kind);
    const rec = faults.filter((f) => f.healedAt !== null && f.recoveredAt !== null)
      .map((f) => (f.recoveredAt as number) - (f.healedAt as number)).sort((a, b) => a - b);
    const missing = faults.filter((f) => f.healedAt !== null && f.recoveredAt === null).length;
    const targets = [...new Set(faults.map((f) => f.target))].sort().join(" ");
    return [kind, faults.length, targets, rec.length === 0 ? "-" : Math.round(percentile(rec, 0.5)),
      rec.length === 0 ? "-" : Math.round(rec.at(-1) as number), missing];
  });
  out.push(table(["fault", "count", "targets", "recovery p50 ms", "max ms", "not recovered"], faultRows));
  for (const kind of ["crash-proposer", "skew-clock", "rolling-restart", "truncate-blk",
    "bridge-nats"] as const) {
    const of = input.faults.filter((f) => f.kind === kind);
    if (of.length === 0) continue;
    const details = new Map<string, number>();
    for (const f of of) {
      const d = f.detail.replace(/ after \d+ ms or less/, "");
      details.set(d, (details.get(d) ?? 0) + 1);
    }
    out.push(`${kind}: ${[...details].map(([d, n]) => `${d} ×${n}`).join("; ")}`);
  }
  for (const f of input.faults.filter((x) => x.kind === "wipe-redis")) {
    out.push(`wipe-redis ${f.target}: ${f.detail || "not healed"}`);
  }
  out.push(`Acceptor samples for R8: ${input.samples} (+ full snapshots before and after the restart)`);

  const infra = input.infrastructure ?? [];
  out.push(`Infrastructure failures tolerated by design: ${infra.length === 0 ? "none seen" : ""}`);
  for (const line of infra) out.push(`  ${line}`);
  out.push("");
  out.push(`Anomalies: ${input.anomalies.length}`);
  for (const a of input.anomalies.slice(0, 30)) {
    out.push(`  ${a.rule} ${a.key}: ${a.message.split("\n")[0]}`);
  }
  if (input.anomalies.length > 30) out.push(`  ... and ${input.anomalies.length - 30} more`);
  return out.join("\n");
}
