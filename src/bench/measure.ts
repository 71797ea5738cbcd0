/** Measuring helpers for `paxoskv bench`: latency percentiles, throughput, a progress bar, a process's CPU time and RSS. */

import { readFileSync } from "node:fs";

export interface Result {
  readonly system: string;
  readonly workload: string;
  readonly ops: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly opsPerSec: number;
  /**
   * paxoskv only: CPU time of the three node processes per op, in µs. On a shared machine it
   * moves far less than throughput and latency, so it is the number to compare across changes.
   */
  readonly nodeCpuUsPerOp?: number;
}

/** The `p` quantile of ascending `sorted` (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/**
 * Runs `op(i)` for i in [0, ops) with `concurrency` in flight and records each latency.
 * An op that throws counts as an error (and still as a completed op).
 */
export async function measure(
  system: string, workload: string, ops: number, concurrency: number,
  op: (i: number) => Promise<unknown>, progress: Progress,
): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  progress.start(`${system}: ${workload}`, ops);
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, ops) }, async () => {
    while (next < ops) {
      const i = next++;
      const t = performance.now();
      try {
        await op(i);
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t);
      progress.tick();
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  progress.done();
  latencies.sort((a, b) => a - b);
  return {
    system, workload, ops, errors, p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99), opsPerSec: ops / seconds,
  };
}

/** One line on stderr, redrawn in place when stderr is a terminal. */
export class Progress {
  #label = "";
  #total = 0;
  #done = 0;
  #lastDraw = 0;

  start(label: string, total: number): void {
    this.#label = label;
    this.#total = total;
    this.#done = 0;
    this.#draw(true);
  }

  tick(): void {
    this.#done++;
    this.#draw(false);
  }

  done(): void {
    this.#done = this.#total;
    this.#draw(true);
    process.stderr.write(process.stderr.isTTY ? "\n" : "");
  }

  #draw(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const width = 30;
    const filled = Math.round((this.#done / Math.max(1, this.#total)) * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
    const line = `${bar} ${this.#done}/${this.#total} ${this.#label}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(100)}`);
    else if (this.#done === this.#total || this.#done === 0) process.stderr.write(`${line}\n`);
  }
}

/**
 * User and system CPU time of a process so far (from /proc, clock ticks of 10 ms); `gone` when
 * there is no such process (not started, or exited).
 */
export function processCpuSeconds(pid: number | undefined, gone: number): number {
  if (pid === undefined) return gone;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return gone;
  }
}

/** A process's resident memory in MB (from /proc), `gone` when there is no such process. */
export function processRssMb(pid: number | undefined, gone: number): number {
  if (pid === undefined) return gone;
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? gone) / 1024;
  } catch {
    return gone;
  }
}
