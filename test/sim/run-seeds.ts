import type { TraceEvent } from "../../src/protocol/trace.js";
import { ACCEPTOR_IDS } from "./nodes.js";
import { optionsFromSeed, type PlantedBug } from "./options.js";
import {
  runSimulation, type SimResult, type Trace, type TraceRecorder,
} from "./simulator.js";

/** One seed, optionally with a planted bug (same seed, same schedule of faults). */
export function runSeed(
  seed: number, bug: PlantedBug | null = null, trace?: Trace, record?: TraceRecorder,
): SimResult {
  return runSimulation({ ...optionsFromSeed(seed), bug }, trace, record);
}

/** A simulated run as a trace file the web page replays (`npm run sim -- --export`). */
export interface SimTraceExport {
  readonly format: "paxoskv-trace/1";
  readonly source: "sim";
  readonly seed: number;
  readonly scenario: string;
  readonly bug: PlantedBug | null;
  readonly violation: string | null;
  /** Event times are simulator ticks. */
  readonly unit: "tick";
  readonly acceptors: readonly string[];
  readonly events: readonly TraceEvent[];
}

export function exportSeed(seed: number, bug: PlantedBug | null = null): SimTraceExport {
  const events: TraceEvent[] = [];
  const result = runSeed(seed, bug, undefined, (event) => events.push(event));
  return {
    format: "paxoskv-trace/1", source: "sim", seed, scenario: result.scenario, bug,
    violation: result.violation, unit: "tick",
    acceptors: ACCEPTOR_IDS.slice(0, optionsFromSeed(seed).acceptorCount), events,
  };
}

/**
 * Runs seeds [from, from + count) and returns the failures, each with how to replay it.
 * `SEED=n` in the environment runs just that seed instead.
 */
export function failingSeeds(from: number, count: number): string[] {
  const only = process.env["SEED"];
  // With SEED set, the file that starts at seed 1 runs it and the others run nothing.
  const seeds = only === undefined ? Array.from({ length: count }, (_, i) => from + i)
    : from === 1 ? [Number(only)] : [];
  const failures: string[] = [];
  for (const seed of seeds) {
    const result = runSeed(seed);
    if (result.violation === null) continue;
    failures.push(`seed ${seed} ${result.scenario} at t=${result.tick}: ${result.violation}\n` +
      `  reproduce with SEED=${seed} npm run sim -- --seed ${seed} --trace`);
  }
  return failures;
}
