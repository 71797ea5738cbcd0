import { setTimeout as sleep } from "node:timers/promises";

export interface StartRetry {
  /** How long to keep trying; the last error is thrown after. */
  readonly waitMs: number;
  /** The longest pause between attempts (pauses start at 100 ms and double). */
  readonly maxPauseMs: number;
  /** Which failures are worth waiting out; others are thrown at once (default: all). */
  readonly retryable?: (err: unknown) => boolean;
  /** Hears the first failure, once: the node says what it waits for. */
  readonly onWait: (err: unknown) => void;
  /** Hears the success after a wait, with how long it waited: the node says the wait is over. */
  readonly onReady?: (waitedMs: number) => void;
}

/**
 * Runs `attempt` until it succeeds: a server a starting node needs (its Redis, JetStream) may
 * itself be starting, loading or electing a leader, which is not a reason to exit.
 */
export async function retryWhileStarting<T>(
  options: StartRetry, attempt: () => Promise<T>,
): Promise<T> {
  const start = Date.now();
  const deadline = start + options.waitMs;
  for (let n = 0; ; n++) {
    try {
      const result = await attempt();
      if (n > 0) options.onReady?.(Date.now() - start);
      return result;
    } catch (err) {
      if (!(options.retryable?.(err) ?? true) || Date.now() > deadline) throw err;
      if (n === 0) options.onWait(err);
      await sleep(Math.min(options.maxPauseMs, 100 * 2 ** n));
    }
  }
}
