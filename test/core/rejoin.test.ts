import { describe, expect, it } from "vitest";
import { ballot } from "../../src/core/ballot.js";
import { keysToRecover, listingsNeeded, recoveredState } from "../../src/core/rejoin.js";

describe("rejoin rules", () => {
  it("rejoin - lists n - quorum + 1 others: each majority with the recovering one meets them", () => {
    expect([1, 2, 3, 4, 5, 7].map(listingsNeeded)).toEqual([0, 1, 2, 2, 3, 4]);
  });

  it("rejoin - recovers the union of the listings, or nothing with too few", () => {
    expect(keysToRecover(3, [["a", "b"], ["b", "c"]])).toEqual(new Set(["a", "b", "c"]));
    expect(keysToRecover(3, [["a", "b"]])).toBeNull();
    expect(keysToRecover(5, [[], [], []])).toEqual(new Set());
  });

  it("rejoin - installs the value chosen again, the promise alone, or nothing", () => {
    const b = ballot(7, "A");
    expect(recoveredState({ kind: "chosen", value: "v", ballot: b, acceptors: ["B", "C"] }))
      .toEqual({ promised: b, accepted: { ballot: b, value: "v" } });
    expect(recoveredState({ kind: "empty", ballot: b, acceptors: ["B", "C"] }))
      .toEqual({ promised: b, accepted: null });
    expect(recoveredState({ kind: "timeout", rounds: 3 })).toBeNull();
    expect(recoveredState({ kind: "unavailable", rounds: 1 })).toBeNull();
  });
});
