import { describe, expect, it } from "vitest";
import {
  EMPTY_ACCEPTOR_STATE, onAccept, onPrepare, type AcceptorState,
} from "../../src/core/acceptor.js";
import { ballot, FAST_BALLOT, type Ballot } from "../../src/core/ballot.js";
import type { MsgAccept, MsgPrepare } from "../../src/core/messages.js";

const n = (round: number, nodeId = "P1"): Ballot => ballot(round, nodeId);
const prepare = (b: Ballot): MsgPrepare => ({ type: "prepare", key: "X", ballot: b });
const accept = (b: Ballot, value: string): MsgAccept => ({ type: "accept", key: "X", ballot: b, value });
const state = (promised: Ballot | null, accepted: [Ballot, string] | null = null): AcceptorState =>
  ({ promised, accepted: accepted && { ballot: accepted[0], value: accepted[1] } });

describe("acceptor", () => {
  // DESIGN.md: "So Prepare(n) succeeds only if n > promised".
  it.each([
    { name: "nothing promised", before: EMPTY_ACCEPTOR_STATE, b: n(1) },
    { name: "a lower round promised", before: state(n(1)), b: n(2) },
    { name: "same round, lower node ID", before: state(n(2, "P1")), b: n(2, "P2") },
  ])("acceptor - promises Prepare above promised ($name)", ({ before, b }) => {
    const step = onPrepare(before, prepare(b), "A");
    expect(step.reply).toEqual({ type: "promise", key: "X", from: "A", ballot: b, accepted: null });
    expect(step.state.promised).toEqual(b);
    expect(step.changed).toBe(true);
  });

  // Promise 1: "it will no longer accept a **Prepare** whose ID is `<=` n".
  it.each([
    { name: "equal", b: n(5) },
    { name: "lower round", b: n(4, "P9") },
    { name: "same round, lower node ID", b: n(5, "P0") },
  ])("acceptor - rejects Prepare at or below promised ($name)", ({ b }) => {
    const before = state(n(5), [n(3), "3"]);
    const step = onPrepare(before, prepare(b), "A");
    expect(step.reply).toMatchObject({ type: "nack", phase: "prepare", ballot: b });
    expect(step.state).toBe(before);
    expect(step.changed).toBe(false);
  });

  // Promise 2: "it will no longer accept an **Accept** whose ID is `<` n".
  it.each([
    { name: "lower round", b: n(4) },
    { name: "same round, lower node ID", b: n(5, "P0") },
  ])("acceptor - rejects Accept below promised ($name)", ({ b }) => {
    const before = onPrepare(EMPTY_ACCEPTOR_STATE, prepare(n(5)), "A").state;
    const step = onAccept(before, accept(b, "3"), "A");
    expect(step.reply).toMatchObject({ type: "nack", phase: "accept", ballot: b });
    expect(step.state).toBe(before);
    expect(step.state.accepted).toBeNull();
    expect(step.changed).toBe(false);
  });

  // "Accept(n) only if n >= promised"; "An acceptor accepts unless it promised a higher ID".
  it.each([
    { name: "nothing promised", before: EMPTY_ACCEPTOR_STATE, b: n(1) },
    { name: "equal to promised", before: state(n(5)), b: n(5) },
    { name: "above promised", before: state(n(5), [n(3), "3"]), b: n(6) },
  ])("acceptor - accepts Accept at or above promised ($name)", ({ before, b }) => {
    const step = onAccept(before, accept(b, "7"), "A");
    expect(step.reply).toEqual({ type: "accepted", key: "X", from: "A", ballot: b });
    expect(step.state).toEqual(state(b, [b, "7"]));
    expect(step.changed).toBe(true);
  });

  // Answer: "it replies with the value and ID of the accepted proposal with the highest ID it
  // holds, or empty".
  it("acceptor - answers Prepare with the highest-ID accepted proposal", () => {
    let s = onAccept(EMPTY_ACCEPTOR_STATE, accept(n(1), "3"), "A").state;
    s = onAccept(s, accept(n(4, "P2"), "7"), "A").state;
    const step = onPrepare(s, prepare(n(9)), "A");
    expect(step.reply).toMatchObject({
      type: "promise", accepted: { ballot: n(4, "P2"), value: "7" },
    });
    expect(step.state.accepted).toEqual({ ballot: n(4, "P2"), value: "7" });
  });

  it("acceptor - answers Prepare with empty when nothing was accepted", () => {
    const s = onPrepare(EMPTY_ACCEPTOR_STATE, prepare(n(1)), "A").state;
    expect(onPrepare(s, prepare(n(2)), "A").reply).toMatchObject({ type: "promise", accepted: null });
  });

  // "`promised` lets the proposer jump past it".
  it.each([
    { phase: "prepare", run: (s: AcceptorState) => onPrepare(s, prepare(n(3)), "B").reply },
    { phase: "accept", run: (s: AcceptorState) => onAccept(s, accept(n(3), "3"), "B").reply },
  ])("acceptor - a rejected $phase carries the promised ballot", ({ phase, run }) => {
    expect(run(state(n(8, "P2")))).toEqual({
      type: "nack", key: "X", from: "B", phase, ballot: n(3), promised: n(8, "P2"),
    });
  });

  // Accepting n keeps promise 2 for n: a later, lower Accept must fail and Prepare(n) too.
  it("acceptor - accepting n also promises n", () => {
    const s = onAccept(EMPTY_ACCEPTOR_STATE, accept(n(5), "3"), "A").state;
    expect(s.promised).toEqual(n(5));
    expect(onAccept(s, accept(n(4), "7"), "A").reply.type).toBe("nack");
    expect(onPrepare(s, prepare(n(5)), "A").reply.type).toBe("nack");
  });

  it("acceptor - a duplicate Accept at the promised ballot is accepted again, unchanged", () => {
    const s = onAccept(EMPTY_ACCEPTOR_STATE, accept(n(5), "3"), "A").state;
    const again = onAccept(s, accept(n(5), "3"), "A");
    expect(again.reply.type).toBe("accepted");
    expect(again.state).toEqual(s);
  });

  // The fast ballot: shared by every proposer, taken only while nothing is promised.
  it("acceptor - takes a fast Accept while nothing is promised, and only its first value", () => {
    const first = onAccept(EMPTY_ACCEPTOR_STATE, accept(FAST_BALLOT, "3"), "A");
    expect(first.reply).toEqual({ type: "accepted", key: "X", from: "A", ballot: FAST_BALLOT });
    expect(first.state).toEqual(state(FAST_BALLOT, [FAST_BALLOT, "3"]));
    const repeat = onAccept(first.state, accept(FAST_BALLOT, "3"), "A");
    expect(repeat.reply.type).toBe("accepted");
    expect(repeat.changed).toBe(false);
    const other = onAccept(first.state, accept(FAST_BALLOT, "7"), "A");
    expect(other.reply).toMatchObject({ type: "nack", promised: FAST_BALLOT });
    expect(other.state).toBe(first.state);
  });

  it.each([
    { name: "a promise", before: state(n(1)) },
    { name: "a fast value, then a promise", before: state(n(2), [FAST_BALLOT, "3"]) },
    { name: "a classic value", before: state(n(2), [n(2), "3"]) },
  ])("acceptor - refuses a fast Accept after $name", ({ before }) => {
    const step = onAccept(before, accept(FAST_BALLOT, "3"), "A");
    expect(step.reply).toMatchObject({ type: "nack", promised: before.promised });
    expect(step.state).toBe(before);
  });

  it("acceptor - never promises the fast ballot", () => {
    expect(onPrepare(EMPTY_ACCEPTOR_STATE, prepare(FAST_BALLOT), "A").reply.type).toBe("nack");
  });
});

describe("acceptor - replies name their proposal", () => {
  const tagged = { proposalId: "N.7" };
  it.each([
    { name: "promise", step: () => onPrepare(EMPTY_ACCEPTOR_STATE, { ...prepare(n(1)), ...tagged }, "A") },
    { name: "prepare nack", step: () => onPrepare(state(n(5)), { ...prepare(n(1)), ...tagged }, "A") },
    { name: "accepted", step: () => onAccept(EMPTY_ACCEPTOR_STATE, { ...accept(n(1), "v"), ...tagged }, "A") },
    { name: "accept nack", step: () => onAccept(state(n(5)), { ...accept(n(1), "v"), ...tagged }, "A") },
    { name: "fast nack", step: () => onAccept(state(FAST_BALLOT, [FAST_BALLOT, "w"]),
      { ...accept(FAST_BALLOT, "v"), ...tagged }, "A") },
  ])("acceptor - a $name echoes the request's proposal ID", ({ step }) => {
    expect(step().reply.proposalId).toBe("N.7");
  });

  // A proposer older than the field sends none: the reply carries none, as that proposer expects.
  it("acceptor - a request without a proposal ID gets a reply without one", () => {
    expect("proposalId" in onPrepare(EMPTY_ACCEPTOR_STATE, prepare(n(1)), "A").reply).toBe(false);
    expect("proposalId" in onAccept(EMPTY_ACCEPTOR_STATE, accept(n(1), "v"), "A").reply).toBe(false);
  });
});
