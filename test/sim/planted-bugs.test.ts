import { describe, expect, it } from "vitest";
import { optionsFromSeed, type PlantedBug } from "./options.js";
import { runSimulation, type SimResult } from "./simulator.js";

/** The first of `count` seeds on which the simulator catches the planted bug, if any. */
function firstCatch(bug: PlantedBug, checkAcceptorRules: boolean, count = 300): SimResult | null {
  // A rejoin bug needs an acceptor to lose its state: every seed gets that fault for it.
  const faults = bug === "rejoin-without-recovery" ? { crashes: true, amnesia: true }
    : bug === "ignore-fast-values" ? { fastRounds: true } : {};
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
  });
});
