import { describe, expect, it } from "vitest";
import { failingSeeds } from "./run-seeds.js";

// Four files of 5,000 seeds each, so vitest runs them in parallel (tigerbeetle VOPR in CI).
describe("simulation", () => {
  it("sim - seeds 1..5000 keep one value per key and decide after healing", () => {
    const failures = failingSeeds(1, 5000);
    expect(failures, failures.join("\n")).toEqual([]);
  });
});
