import { describe, expect, it } from "vitest";
import { AssertionFailure } from "../../src/core/assert.js";
import {
  ballot, ballotsEqual, FAST_BALLOT, compareBallots, formatBallot, formatBallotPair, maxBallot,
  nextBallotAbove, type Ballot,
} from "../../src/core/ballot.js";

const b = (round: number, nodeId: string): Ballot => ballot(round, nodeId);

describe("ballot", () => {
  // DESIGN.md: "a round number ... paired with the proposer's node ID as tie-breaker. Totally ordered."
  it.each([
    { a: null, b: null, want: 0 },
    { a: null, b: b(0, "A"), want: -1 },
    { a: b(0, "A"), b: null, want: 1 },
    { a: b(1, "Z"), b: b(2, "A"), want: -1 },
    { a: b(2, "A"), b: b(1, "Z"), want: 1 },
    { a: b(5, "P1"), b: b(5, "P2"), want: -1 },
    { a: b(5, "P2"), b: b(5, "P2"), want: 0 },
    // Byte order, as Redis Lua compares strings: uppercase sorts before lowercase.
    { a: b(5, "a"), b: b(5, "B"), want: 1 },
    { a: b(5, "A"), b: b(5, "AB"), want: -1 },
  ])("ballot - compares $a with $b as $want", ({ a, b: other, want }) => {
    expect(compareBallots(a, other)).toBe(want);
    expect(compareBallots(other, a)).toBe(-want || 0);
    expect(ballotsEqual(a, other)).toBe(want === 0);
  });

  it("ballot - maxBallot picks the higher, and null only when both are null", () => {
    expect(maxBallot(b(1, "A"), b(1, "B"))).toEqual(b(1, "B"));
    expect(maxBallot(null, b(0, "A"))).toEqual(b(0, "A"));
    expect(maxBallot(null, null)).toBeNull();
  });

  // DESIGN.md: "start from a timestamp, then always above every ID seen".
  it.each([
    // Round 0 is the fast ballot's: a classic ballot starts at 1.
    { seen: null, floor: 0, want: b(1, "P1") },
    { seen: FAST_BALLOT, floor: 0, want: b(1, "P1") },
    { seen: null, floor: 1000.7, want: b(1000, "P1") },
    { seen: b(1000, "P2"), floor: 10, want: b(1001, "P1") },
    { seen: b(1000, "P0"), floor: 10, want: b(1001, "P1") },
    { seen: b(5, "P2"), floor: 1000, want: b(1000, "P1") },
  ])("ballot - nextBallotAbove($seen, floor $floor) is $want", ({ seen, floor, want }) => {
    const next = nextBallotAbove(seen, "P1", floor);
    expect(next).toEqual(want);
    expect(compareBallots(next, seen)).toBe(1);
  });

  it.each([
    { round: -1, nodeId: "A" },
    { round: 1.5, nodeId: "A" },
    { round: Number.MAX_SAFE_INTEGER + 1, nodeId: "A" },
    { round: 1, nodeId: "" },
    { round: 1, nodeId: "has space" },
    { round: 1, nodeId: "x".repeat(33) },
  ])("ballot - refuses round $round with node ID '$nodeId'", ({ round, nodeId }) => {
    expect(() => ballot(round, nodeId)).toThrow(AssertionFailure);
  });

  it("ballot - formats as round.nodeId", () => {
    expect(formatBallot(b(1000, "P1"))).toBe("1000.P1");
    expect(formatBallot(null)).toBe("none");
  });

  it("ballot - the seed's (round, node), as paxoskv trace and the page draw it", () => {
    expect(formatBallotPair(formatBallot(b(1717000012345, "A")))).toBe("(1717000012345, A)");
    expect(formatBallotPair(formatBallot(FAST_BALLOT))).toBe("(0, fast)");
    // The page's arrows keep a timestamp round's last digits; short rounds stay whole.
    expect(formatBallotPair("1717000012345.A", 6)).toBe("(…12345, A)");
    expect(formatBallotPair("123456.B", 6)).toBe("(123456, B)");
    expect(formatBallotPair("1234567.node-1", 6)).toBe("(…34567, node-1)");
  });
});
