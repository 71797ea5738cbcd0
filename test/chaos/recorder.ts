/**
 * Records every client operation of a chaos run as the checker reads it: invoke and complete
 * times on one monotonic clock (performance.now of this process), and the outcome mapped
 * from the client library's replies and errors (TIMEOUT: unknown, UNAVAILABLE: definite).
 */
import type { Op, OpKind, Outcome } from "../../src/check/index.js";
import type { PaxosKvClient } from "../../src/client/client.js";
import { PaxosKvError } from "../../src/protocol/codes.js";

export class Recorder {
  readonly ops: Op[] = [];
  readonly #t0 = performance.now();
  #nextId = 0;
  phase = "run";

  /** Milliseconds since the recorder started (monotonic). */
  now(): number {
    return Math.round((performance.now() - this.#t0) * 1000) / 1000;
  }

  async create(client: PaxosKvClient, process: string, key: string, value: string): Promise<Op> {
    return this.#record(process, "create", key, value, async () => {
      const reply = await client.create(key, value);
      return reply.created ? { type: "created", value: reply.value } :
        { type: "exists", value: reply.value };
    });
  }

  async read(client: PaxosKvClient, process: string, key: string, replica: boolean): Promise<Op> {
    return this.#record(process, replica ? "rread" : "lread", key, undefined, async () => {
      const reply = await client.get(key, { replica });
      return reply.found ? { type: "value", value: reply.value } : { type: "absent" };
    });
  }

  async #record(
    process: string, kind: OpKind, key: string, value: string | undefined,
    run: () => Promise<Outcome>,
  ): Promise<Op> {
    const id = ++this.#nextId;
    const phase = this.phase;
    const ti = this.now();
    let outcome: Outcome;
    try {
      outcome = await run();
    } catch (err) {
      outcome = errorOutcome(err);
    }
    const op: Op = { id, process, key, kind, ...(value === undefined ? {} : { value }), ti,
      tc: this.now(), outcome, phase };
    this.ops.push(op);
    return op;
  }
}

/**
 * TIMEOUT (and INTERNAL, or anything the library did not classify) leaves the outcome
 * unknown; UNAVAILABLE and the validation codes say it certainly did not take effect.
 */
export function errorOutcome(err: unknown): Outcome {
  if (err instanceof PaxosKvError) {
    return err.code === "TIMEOUT" || err.code === "INTERNAL" ?
      { type: "unknown", code: err.code } : { type: "fail", code: err.code };
  }
  return { type: "unknown", code: err instanceof Error ? err.name : "ERROR" };
}

export function isOk(op: Op): boolean {
  return op.outcome.type !== "fail" && op.outcome.type !== "unknown";
}
