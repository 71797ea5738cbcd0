import { describe, expect, it } from "vitest";
import { optionsFromSeed, type PlantedBug, type SimOptions } from "./options.js";
import { runSimulation, type SimResult } from "./simulator.js";

/** The faults a bug needs to show, given to every seed of its search. */
const FAULTS_FOR: Partial<Record<PlantedBug, Partial<SimOptions>>> = {
  // An acceptor must lose its state.
  "rejoin-without-recovery": { crashes: true, amnesia: true },
  "ignore-fast-values": { fastRounds: true },
  "rejoin-lists-one": { crashes: true, amnesia: true },
  // A late reply (a paused acceptor) must reach the next proposal of the same node for the key,
  // with another value, while the acceptors it did not reach (down) are still free for it.
  "count-stale-replies": { fastRounds: true, valueVariety: true, pausePct: 2, crashes: true },
};

/**
 * How many seeds a bug's search may take: its interleaving is rarer than the others' (first
 * caught at seed 124 of this family; 931 and 1623 catch it too).
 */
const SEEDS_FOR: Partial<Record<PlantedBug, number>> = { "count-stale-replies": 3000 };

/** The first seeds on which the simulator catches the planted bug, if any. */
function firstCatch(bug: PlantedBug, checkAcceptorRules: boolean): SimResult | null {
  const faults = FAULTS_FOR[bug] ?? {};
  const count = SEEDS_FOR[bug] ?? 300;
  for (let seed = 1; seed <= count; seed++) {
    const result = runSimulation({ ...optionsFromSeed(seed), ...faults, bug, checkAcceptorRules });
    if (result.violation !== null) return result;
  }
  return null;
}

// A checker that never fails proves nothing (gryadka's c2p2k1.i canary): each planted bug
// must be caught within a few hundred seeds, by the property it breaks.
describe("planted bugs", () => {
  it.each([
    { bug: "accept-below-promise", acceptorChecks: true,
      want: /accepted .* below its promise|took fast value .* after promising/ },
    // With the per-acceptor rule off, agreement itself must still catch it.
    { bug: "accept-below-promise", acceptorChecks: false, want: /two values chosen/ },
    { bug: "ignore-accepted", acceptorChecks: true, want: /two values chosen/ },
    // The canary: a "majority" of 1 of 3 lets proposers report values nobody chose.
    { bug: "quorum-of-one", acceptorChecks: true,
      want: /two values chosen|reports .* chosen .* but the acceptors chose/ },
    // An acceptor that forgot its promises and votes at once lets a second value be chosen.
    { bug: "rejoin-without-recovery", acceptorChecks: true,
      want: /two values chosen|quorum read saw nothing/ },
    // A classic round that ignores fast values overrides one all acceptors took.
    { bug: "ignore-fast-values", acceptorChecks: true, want: /two values chosen/ },
    // A rejoin that recovers one listed acceptor's keys misses keys chosen without it.
    { bug: "rejoin-lists-one", acceptorChecks: true,
      want: /two values chosen|quorum read saw nothing/ },
    // A late Accepted from an earlier fast round, counted for the next proposal of the key.
    { bug: "count-stale-replies", acceptorChecks: true,
      want: /reports .* chosen .* but the acceptors chose|two values chosen/ },
  ] as const)("sim - catches $bug (acceptor checks: $acceptorChecks)",
    ({ bug, acceptorChecks, want }) => {
      const caught = firstCatch(bug, acceptorChecks);
      expect(caught, `${bug} was never caught`).not.toBeNull();
      expect(caught?.violation).toMatch(want);
    });

  it("sim - the same seeds pass without the bug", () => {
    for (let seed = 1; seed <= 300; seed++) {
      expect(runSimulation(optionsFromSeed(seed)).violation).toBeNull();
    }
    for (const [bug, faults] of Object.entries(FAULTS_FOR)) {
      for (let seed = 1; seed <= (SEEDS_FOR[bug as PlantedBug] ?? 300); seed++) {
        expect(runSimulation({ ...optionsFromSeed(seed), ...faults }).violation).toBeNull();
      }
    }
  });
});
