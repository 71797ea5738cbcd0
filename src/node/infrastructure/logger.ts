import { pino, type DestinationStream, type Logger } from "pino";
import { formatBallot, type Ballot } from "../../core/ballot.js";

export type { Logger };

/**
 * How often a condition that lasts is logged again: often enough to see it is still there,
 * rare enough that an hour of a Redis down is 120 lines per node, not 720.
 */
export const REPEAT_LOG_INTERVAL_MS = 30_000;

/** pino's number for `error`: from here up a log line is about a bug or a lost duty. */
const ERROR_LEVEL = 50;

/**
 * pino JSON with level names and ISO times (`"level":"warn","time":"2026-…Z"`), for people
 * and for log tools that do not know pino's numbers; `ballot` prints as `round.nodeId`.
 * Children bind role, then key and ballot.
 *
 * A stack trace belongs to a bug: below `error` an `err` is logged as its type, message and
 * code (and its cause's message), so an expected condition (a Redis down, JetStream starting)
 * is one short line; `error` and `fatal` keep the whole stack.
 */
export function createLogger(
  nodeId: string, level: string, destination?: DestinationStream,
): Logger {
  return pino({
    level,
    base: { node: nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: {
      ballot: (b: Ballot | null) => formatBallot(b),
      // pino's own serializer would turn a brief error back into an "Object" with a stack.
      err: (err: unknown) => err instanceof BriefError ? err.fields : pino.stdSerializers.err(
        err as Error),
    },
    hooks: {
      logMethod(args, method, levelNumber) {
        const [first] = args;
        if (levelNumber < ERROR_LEVEL && typeof first === "object" && first !== null &&
          "err" in first && first.err instanceof Error) {
          args[0] = { ...first, err: new BriefError(briefError(first.err)) };
        }
        method.apply(this, args);
      },
    },
  }, destination);
}

/** An error already reduced to its fields (see createLogger's hook). */
class BriefError {
  constructor(readonly fields: Record<string, unknown>) {}
}

/** An error without its stack: what an operator needs to tell one condition from another. */
export function briefError(err: Error): Record<string, unknown> {
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    message: err.message,
    ...(code !== undefined ? { code } : {}),
    ...(err.cause instanceof Error && !err.message.includes(err.cause.message)
      ? { cause: err.cause.message } : {}),
  };
}

/** "850 ms", "12 s", "3 min 20 s", "2 h 5 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return s % 60 === 0 ? `${min} min` : `${min} min ${s % 60} s`;
  const h = Math.floor(min / 60);
  return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
}

/**
 * One condition that lasts while something keeps failing (a Redis down, a repair pass that
 * fails): the first failure is logged at once; repeats at most once per `intervalMs`, saying
 * how long it has lasted (`since`, `forMs`) and how many failures the line stands for
 * (`failures`); its end once, at info, with how long it lasted.
 */
export class Ongoing {
  #since: number | null = null;
  #lastLineAt = -Infinity;
  #failures = 0;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while failing (from the first failure until `ended`). */
  get active(): boolean {
    return this.#since !== null;
  }

  /** Another failure: a line now (warn unless told), or counted into the next one. */
  failed(fields: Record<string, unknown>, message: string, level: "warn" | "error" = "warn"): void {
    const now = this.now();
    this.#since ??= now;
    this.#failures++;
    if (now - this.#lastLineAt < this.intervalMs) return;
    const forMs = now - this.#since;
    const lasting = this.#lastLineAt === -Infinity ? "" : ` (for ${formatDuration(forMs)}, ` +
      `${this.#failures} failure${this.#failures === 1 ? "" : "s"} since the last line)`;
    this.log[level]({ ...fields, since: new Date(this.#since).toISOString(), forMs,
      failures: this.#failures }, `${message}${lasting}`);
    this.#lastLineAt = now;
    this.#failures = 0;
  }

  /** It works again: one info line with the duration, if a failure was logged. */
  ended(fields: Record<string, unknown>, message: string): void {
    if (this.#since === null) return;
    const forMs = this.now() - this.#since;
    this.#since = null;
    this.#lastLineAt = -Infinity;
    this.#failures = 0;
    this.log.info({ ...fields, forMs }, `${message} after ${formatDuration(forMs)}`);
  }
}
