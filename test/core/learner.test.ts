import { describe, expect, it } from "vitest";
import { ballot, FAST_BALLOT, type Ballot } from "../../src/core/ballot.js";
import {
  LearnerReplica, classifyQuorumRead, type AcceptorReport, type QuorumRead,
} from "../../src/core/learner.js";

const n = (round: number, nodeId = "P1"): Ballot => ballot(round, nodeId);
const r = (from: string, accepted: [number, string] | null = null): AcceptorReport =>
  ({ from, accepted: accepted && { ballot: n(accepted[0]), value: accepted[1] } });

describe("learner", () => {
  it("learner - learns a chosen value once, then reports it as known", () => {
    const replica = new LearnerReplica();
    expect(replica.learn({ key: "X", value: "3", ballot: n(1) })).toEqual({ kind: "learned" });
    expect(replica.learn({ key: "X", value: "3", ballot: n(2) })).toEqual({ kind: "known" });
    expect(replica.get("X")).toEqual({ key: "X", value: "3", ballot: n(1) });
    expect(replica.size).toBe(1);
  });

  // "a chosen value never changes": a second value is reported, never stored.
  it("learner - reports a conflict and keeps the first value", () => {
    const replica = new LearnerReplica();
    replica.learn({ key: "X", value: "3", ballot: n(1) });
    const result = replica.learn({ key: "X", value: "7", ballot: n(2) });
    expect(result).toEqual({ kind: "conflict", held: { key: "X", value: "3", ballot: n(1) } });
    expect(replica.get("X")?.value).toBe("3");
    expect([...replica.entries()].map((c) => c.key)).toEqual(["X"]);
  });

  const abc = ["A", "B", "C"];
  const abcde = ["A", "B", "C", "D", "E"];
  it.each<{ name: string; acceptors: string[]; reports: AcceptorReport[]; want: QuorumRead }>([
    { name: "one of three answered", acceptors: abc, reports: [r("A")],
      want: { kind: "insufficient" } },
    { name: "duplicate answers count once", acceptors: abc, reports: [r("A"), r("A")],
      want: { kind: "insufficient" } },
    { name: "unknown answers do not count", acceptors: abc, reports: [r("A"), r("Z")],
      want: { kind: "insufficient" } },
    { name: "a majority accepted nothing", acceptors: abc, reports: [r("A"), r("B")],
      want: { kind: "absent" } },
    { name: "a minority accepted, a majority is empty", acceptors: abc,
      reports: [r("A", [1, "3"]), r("B"), r("C")], want: { kind: "absent" } },
    { name: "a majority accepted the same proposal", acceptors: abc,
      reports: [r("A", [1, "3"]), r("B", [1, "3"])],
      want: { kind: "chosen", value: "3", ballot: n(1), acceptors: ["A", "B"] } },
    { name: "three of five accepted the same proposal", acceptors: abcde,
      reports: [r("A", [2, "7"]), r("B", [1, "3"]), r("C", [2, "7"]), r("E", [2, "7"])],
      want: { kind: "chosen", value: "7", ballot: n(2), acceptors: ["A", "C", "E"] } },
    { name: "accepted, not by a majority", acceptors: abc, reports: [r("A", [1, "3"]), r("B")],
      want: { kind: "undecided", highest: { ballot: n(1), value: "3" } } },
    { name: "same value under different ballots", acceptors: abc,
      reports: [r("A", [1, "3"]), r("B", [2, "3"])],
      want: { kind: "undecided", highest: { ballot: n(2), value: "3" } } },
    { name: "highest of several accepted", acceptors: abcde,
      reports: [r("A", [4, "7"]), r("B", [1, "3"]), r("C")],
      want: { kind: "undecided", highest: { ballot: n(4), value: "7" } } },
  ])("learner - classifyQuorumRead: $name", ({ acceptors, reports, want }) => {
    expect(classifyQuorumRead(acceptors, reports)).toEqual(want);
  });

  it.each([
    { name: "all three took it", values: ["3", "3", "3"], want: "chosen" },
    { name: "two of three took it", values: ["3", "3", null], want: "undecided" },
    { name: "the third took another", values: ["3", "3", "7"], want: "undecided" },
  ])("learner - classifyQuorumRead needs a fast quorum at the fast ballot: $name",
    ({ values, want }) => {
      const reports = ["A", "B", "C"].map((from, i) => {
        const value = values[i] ?? null;
        return { from, accepted: value === null ? null : { ballot: FAST_BALLOT, value } };
      });
      expect(classifyQuorumRead(["A", "B", "C"], reports).kind).toBe(want);
    });
});
