/**
 * Replays simulator seeds.
 *   npm run sim -- --seed 42 --trace      one seed, with every message, fault and decision
 *   npm run sim -- --seeds 1..10000       a range, with seeds/s
 *   add --bug accept-below-promise|ignore-accepted|quorum-of-one|rejoin-without-recovery|ignore-fast-values|count-stale-replies|rejoin-lists-one to plant a bug
 *   npm run sim -- --seed 42 --export trace.json   the run as trace events, for the web
 *                                                  page's replay (/replay)
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { PlantedBug } from "./options.js";
import { exportSeed, runSeed } from "./run-seeds.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    seeds: { type: "string" },
    trace: { type: "boolean", default: false },
    bug: { type: "string" },
    export: { type: "string" },
  },
});
// `--trace | head` closes the pipe early; that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});
const bug = (values.bug ?? null) as PlantedBug | null;
const [from, to] = range(values.seed ?? process.env["SEED"], values.seeds);
if (values.export !== undefined) {
  if (from !== to) throw new Error("--export takes one seed (--seed N)");
  const run = exportSeed(from, bug);
  writeFileSync(values.export, `${JSON.stringify(run)}\n`);
  console.log(`seed ${from} ${run.scenario}: ${run.violation ?? "ok"}; ${run.events.length} ` +
    `trace events written to ${values.export} (open the page's /replay and load it)`);
  process.exit(run.violation === null ? 0 : 1);
}

const started = performance.now();
let failures = 0;
for (let seed = from; seed <= to; seed++) {
  const trace = values.trace ? (line: string) => console.log(line) : undefined;
  const result = runSeed(seed, bug, trace);
  if (from === to || result.violation !== null) {
    console.log(`seed ${seed} ${result.scenario}: ${result.violation ?? "ok"} ` +
      `(t=${result.tick}, ${result.delivered} messages delivered, ${result.rounds} ballots)`);
  }
  if (result.violation !== null) {
    failures += 1;
    console.log(`  reproduce with SEED=${seed} npm run sim -- --seed ${seed} --trace` +
      (bug === null ? "" : ` --bug ${bug}`));
  }
}
const seconds = (performance.now() - started) / 1000;
const count = to - from + 1;
console.log(`${count} seed(s), ${failures} failing, ${seconds.toFixed(2)} s, ` +
  `${Math.round(count / seconds)} seeds/s`);
process.exitCode = failures === 0 ? 0 : 1;

function range(seed: string | undefined, seeds: string | undefined): [number, number] {
  if (seeds !== undefined) {
    const match = /^(\d+)\.\.(\d+)$/.exec(seeds);
    if (match === null) throw new Error(`--seeds wants A..B, got ${seeds}`);
    return [Number(match[1]), Number(match[2])];
  }
  const one = Number(seed ?? "1");
  if (!Number.isSafeInteger(one)) throw new Error(`--seed wants an integer, got ${seed}`);
  return [one, one];
}
