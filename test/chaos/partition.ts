/**
 * Network partitions on loopback with iptables: every packet to or from one port (a Redis,
 * or a NATS server's client and route ports) is dropped, so TCP connections stall instead of
 * closing, as with a cable pulled; after the heal the buffered traffic flows on (late
 * requests arrive). Needs root and iptables; rules are removed at the heal and at exit.
 */
import { execFileSync } from "node:child_process";

const installed = new Set<string>();
let exitHook = false;

function rules(port: number): string[][] {
  return [["-p", "tcp", "--dport", String(port)], ["-p", "tcp", "--sport", String(port)]]
    .map((match) => ["INPUT", "-i", "lo", ...match, "-j", "DROP"]);
}

/** Whether this process may add iptables rules. */
export function partitionsAvailable(): boolean {
  try {
    execFileSync("iptables", ["-w", "-L", "INPUT", "-n"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Drops all loopback traffic of `ports`; returns the heal. */
export function partition(ports: readonly number[]): () => void {
  return install(ports.flatMap(rules));
}

/** A server to cut from another: the port it listens on for clients, and its route port. */
export interface RoutedServer {
  readonly port: number;
  readonly routePort: number;
}

/**
 * A4, a bridge: cuts the route connections between servers `a` and `b` and nothing else, so
 * a third server still talks to both (and their clients to it). The routes are found with
 * `ss` (a connection `a`'s process dialled to `b`'s route port, or the reverse) and dropped by
 * their exact ports: they stall, as with a cable pulled. A route dialled anew during the fault
 * would not be cut; a server dials one only once its pings have failed for minutes.
 */
export function cutRoutes(a: RoutedServer, b: RoutedServer): { heal: () => void; cut: number } {
  const pidA = listenerPid(a.port);
  const pidB = listenerPid(b.port);
  const routes = establishedConnections().filter((c) =>
    (c.pid === pidA && c.peerPort === b.routePort) || (c.pid === pidB && c.peerPort === a.routePort));
  const heal = install(routes.flatMap((c) => [
    ["INPUT", "-i", "lo", "-p", "tcp", "--sport", String(c.localPort), "--dport", String(c.peerPort), "-j", "DROP"],
    ["INPUT", "-i", "lo", "-p", "tcp", "--sport", String(c.peerPort), "--dport", String(c.localPort), "-j", "DROP"],
  ]));
  return { heal, cut: routes.length };
}

const SS_PROCESS = /:(\d+)\s+\S+:(\d+)\s+users:\(\("[^"]*",pid=(\d+)/;

function listenerPid(port: number): number {
  const line = execFileSync("ss", ["-tlnpH", "sport", "=", `:${port}`], { encoding: "utf8" });
  const pid = /pid=(\d+)/.exec(line)?.[1];
  if (pid === undefined) throw new Error(`nothing listens on port ${port}`);
  return Number(pid);
}

function establishedConnections(): { localPort: number; peerPort: number; pid: number }[] {
  const out = execFileSync("ss", ["-tnpH", "state", "established"], { encoding: "utf8" });
  return out.split("\n").flatMap((line) => {
    const m = SS_PROCESS.exec(line);
    return m === null ? [] : [{ localPort: Number(m[1]), peerPort: Number(m[2]), pid: Number(m[3]) }];
  });
}

/** Inserts `rulesToAdd` (removed again at exit); returns their removal. */
function install(rulesToAdd: readonly string[][]): () => void {
  if (!exitHook) {
    exitHook = true;
    const removeAll = () => {
      for (const rule of installed) remove(JSON.parse(rule) as string[]);
      installed.clear();
    };
    process.on("exit", removeAll);
    // Killed by a signal, a process emits no "exit"; the servers' handler re-raises it.
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, removeAll);
  }
  const added: string[][] = [];
  for (const rule of rulesToAdd) {
    execFileSync("iptables", ["-w", "-I", ...rule], { stdio: "ignore" });
    installed.add(JSON.stringify(rule));
    added.push(rule);
  }
  return () => {
    for (const rule of added) {
      remove(rule);
      installed.delete(JSON.stringify(rule));
    }
  };
}

function remove(rule: string[]): void {
  try {
    execFileSync("iptables", ["-w", "-D", ...rule], { stdio: "ignore" });
  } catch {
    // already gone
  }
}
