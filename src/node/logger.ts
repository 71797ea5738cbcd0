import { pino, type Logger } from "pino";
import { formatBallot, type Ballot } from "../core/ballot.js";

export type { Logger };

/** pino JSON; `ballot` prints as `round.nodeId`. Children bind role, then key and ballot. */
export function createLogger(nodeId: string, level: string): Logger {
  return pino({
    level,
    base: { node: nodeId },
    serializers: { ballot: (b: Ballot | null) => formatBallot(b) },
  });
}

/** A gate that opens at most once per `intervalMs`: one log line for a burst of failures. */
export function throttled(intervalMs: number): () => boolean {
  let lastAt = -Infinity;
  return () => {
    const now = Date.now();
    if (now - lastAt < intervalMs) return false;
    lastAt = now;
    return true;
  };
}
