import type { NatsConnection } from "@nats-io/transport-node";
import { NodeStatusSchema, type NodeStatus } from "../protocol/status.js";
import { paxosStatusSubject } from "../protocol/subjects.js";

/**
 * Asks every node for its status (`paxoskv status`); collects the answers until none has come
 * for `stallMs`, or `maxWaitMs` in all. Malformed answers are skipped and counted.
 */
export async function gatherStatus(
  nc: NatsConnection, prefix: string, maxWaitMs = 3000, stallMs = 500,
): Promise<{ nodes: NodeStatus[]; malformed: number }> {
  const replies = await nc.requestMany(paxosStatusSubject(prefix), "",
    { maxWait: maxWaitMs, strategy: "stall", stall: stallMs });
  const nodes: NodeStatus[] = [];
  let malformed = 0;
  for await (const reply of replies) {
    const parsed = NodeStatusSchema.safeParse((() => {
      try { return reply.json(); } catch { return null; }
    })());
    if (parsed.success) nodes.push(parsed.data);
    else malformed++;
  }
  nodes.sort((a, b) => a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
  return { nodes, malformed };
}

/**
 * A table for people: one row per node, then each acceptor with whether it votes, as the
 * nodes hear it (a fenced acceptor shows its own reason).
 */
export function formatStatus(nodes: readonly NodeStatus[]): string {
  const rows = [["NODE", "ROLES", "VERSION", "SERVING", "ACCEPTOR", "STREAM", "LAG", "UP"]];
  for (const n of nodes) {
    rows.push([
      n.node, n.roles.join(","), n.version, n.ready ? "ready" : "NOT READY",
      n.acceptor === undefined ? "-" : n.acceptor.voting ? "voting" : "NOT VOTING",
      n.checks.stream === undefined ? "-" : n.checks.stream === true ? "attached" : "DETACHED",
      String(n.checks.lag ?? "-"), `${n.uptimeS}s`,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const table = rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd());
  const acceptors = [...new Set(nodes.flatMap((n) => Object.keys(n.acceptors)))].sort();
  const lines = acceptors.map((id) => {
    const own = nodes.find((n) => n.acceptor?.id === id)?.acceptor;
    const heard = nodes.map((n) => n.acceptors[id] ?? "unknown");
    const voting = heard.filter((h) => h === "voting").length;
    const state = own !== undefined ? (own.voting ? "voting" : "NOT VOTING")
      : voting > 0 ? "voting" : "NOT VOTING (no answer)";
    const why = own?.voting === false && own.reason !== undefined ? `: ${own.reason}` : "";
    return `  ${id}  ${state} (heard voting by ${voting} of ${nodes.length} nodes)${why}`;
  });
  const votingCount = acceptors.filter((id) =>
    nodes.some((n) => n.acceptors[id] === "voting")).length;
  const majority = Math.floor(acceptors.length / 2) + 1;
  const summary = acceptors.length === 0 ? "" :
    `acceptors: ${votingCount} of ${acceptors.length} voting` +
    (votingCount < majority ? ` — fewer than a majority (${majority}): creates cannot succeed`
      : votingCount < acceptors.length ? " — the cluster tolerates fewer failures" : "");
  return [...table, "", summary, ...lines].join("\n");
}
