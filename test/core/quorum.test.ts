import { describe, expect, it } from "vitest";
import {
  addVoter, fastQuorumSize, majorityImpossible, quorumSize,
} from "../../src/core/quorum.js";
import { randomInt, seededRandom } from "../../src/core/random.js";

describe("quorum", () => {
  // DESIGN.md: "the fixed acceptor set; quorum is a strict majority of it".
  it.each([[1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [7, 4]])(
    "quorum - %i acceptors need %i", (count, want) => {
      expect(quorumSize(count)).toBe(want);
    },
  );

  it.each([
    { voters: [], from: "A", want: ["A"] },
    { voters: ["A"], from: "B", want: ["A", "B"] },
    { voters: ["A"], from: "A", want: ["A"] },
    { voters: ["A"], from: "Z", want: ["A"] },
  ])("quorum - addVoter($voters, $from) counts only configured, distinct acceptors",
    ({ voters, from, want }) => {
      const next = addVoter(["A", "B", "C"], voters, from);
      expect(next).toEqual(want);
      // Unchanged input is returned as is, so callers can compare by identity.
      if (want.length === voters.length) expect(next).toBe(voters);
    });

  it.each([
    { count: 3, against: 1, want: false },
    { count: 3, against: 2, want: true },
    { count: 5, against: 2, want: false },
    { count: 5, against: 3, want: true },
  ])("quorum - $against refusals of $count make a majority impossible: $want",
    ({ count, against, want }) => {
      expect(majorityImpossible(count, against)).toBe(want);
    });
});

describe("random", () => {
  it("random - a seed always yields the same sequence, in [0, 1)", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    for (let i = 0; i < 1000; i++) {
      const x = a.next();
      expect(x).toBe(b.next());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    expect(seededRandom(43).next()).not.toBe(seededRandom(42).next());
  });

  it("random - randomInt stays in [0, n)", () => {
    const random = seededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(randomInt(random, 4));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  // Fast Paxos: any two fast quorums and any majority share an acceptor (2F + Q > 2n).
  it.each([[1, 1], [2, 2], [3, 3], [4, 3], [5, 4], [7, 6]])(
    "quorum - a fast round with %i acceptors needs %i", (count, want) => {
      expect(fastQuorumSize(count)).toBe(want);
      expect(2 * want + quorumSize(count)).toBeGreaterThan(2 * count);
      expect(2 * (want - 1) + quorumSize(count)).toBeLessThanOrEqual(2 * count);
    },
  );
});
