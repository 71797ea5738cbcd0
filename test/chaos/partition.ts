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
  for (const port of ports) {
    for (const rule of rules(port)) {
      execFileSync("iptables", ["-w", "-I", ...rule], { stdio: "ignore" });
      installed.add(JSON.stringify(rule));
      added.push(rule);
    }
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
