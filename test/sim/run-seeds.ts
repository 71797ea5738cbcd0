import { optionsFromSeed, type PlantedBug } from "./options.js";
import { runSimulation, type SimResult, type Trace } from "./simulator.js";

/** One seed, optionally with a planted bug (same seed, same schedule of faults). */
export function runSeed(seed: number, bug: PlantedBug | null = null, trace?: Trace): SimResult {
  return runSimulation({ ...optionsFromSeed(seed), bug }, trace);
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
