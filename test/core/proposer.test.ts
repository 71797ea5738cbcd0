import { describe, expect, it } from "vitest";
import { ballot, compareBallots, FAST_BALLOT, type Ballot } from "../../src/core/ballot.js";
import type { AcceptorToProposer, MsgNack } from "../../src/core/messages.js";
import {
  nextWakeAt, onReply, onTick, startProposal, valueToKeep, type ProposalState,
  type ProposerConfig,
  type ProposerStep,
} from "../../src/core/proposer.js";
import { seededRandom } from "../../src/core/random.js";

const config: ProposerConfig = {
  nodeId: "P1", acceptors: ["A", "B", "C"], phaseTimeoutTicks: 10, backoffBaseTicks: 2,
  backoffMaxTicks: 16, deadlineTicks: 100, roundCountMax: 5,
};
const n = (round: number, nodeId = "P1"): Ballot => ballot(round, nodeId);
/** The proposal every test here runs; replies name it, as acceptors echo it. */
const P = "p1";
const START = { id: P };
const promise = (from: string, b: Ballot, accepted: [Ballot, string] | null = null):
  AcceptorToProposer => ({
  type: "promise", key: "X", from, ballot: b,
  accepted: accepted && { ballot: accepted[0], value: accepted[1] }, proposalId: P,
});
const accepted = (from: string, b: Ballot): AcceptorToProposer =>
  ({ type: "accepted", key: "X", from, ballot: b, proposalId: P });
const nack = (from: string, b: Ballot, promised: Ballot, phase: MsgNack["phase"] = "prepare"):
  AcceptorToProposer => ({ type: "nack", key: "X", from, phase, ballot: b, promised,
    proposalId: P });

/** Feeds replies in order, collecting what the proposer sends. */
function feed(state: ProposalState, msgs: AcceptorToProposer[], now = 0): ProposerStep {
  const random = seededRandom(1);
  let step: ProposerStep = { state, outbox: [], events: [] };
  for (const msg of msgs) {
    const next = onReply(config, step.state, msg, now, random);
    step = { state: next.state, outbox: [...step.outbox, ...next.outbox],
      events: [...step.events, ...next.events] };
  }
  return step;
}

/** Starts at 0 (ballot 1.P1: classic rounds start at 1), then gathers promises from A and B: phase 2 at ballot 1.P1. */
function inAcceptPhase(): ProposalState {
  const start = startProposal(config, "X", "3", 0, START).state;
  return feed(start, [promise("A", n(1)), promise("B", n(1))]).state;
}

/** Ticks at each wake-up with no replies at all, until the proposal gives up. */
function runSilent(state: ProposalState, seed = 1, cfg = config):
  { state: ProposalState; prepares: number } {
  const random = seededRandom(seed);
  let prepares = 0;
  for (let wake = nextWakeAt(state); wake !== null; wake = nextWakeAt(state)) {
    const step = onTick(cfg, state, wake, random);
    prepares += step.outbox.filter((m) => m.type === "prepare").length;
    state = step.state;
  }
  return { state, prepares };
}

describe("proposer", () => {
  // "Prepare(n) — the ID only, no value — to all acceptors"; IDs "start from a timestamp".
  it("proposer - starts with Prepare(n), n at least now and above every ballot seen", () => {
    const step = startProposal(config, "X", "3", 1000, { id: P, above: n(2000, "P2") });
    expect(step.outbox).toEqual([{ type: "prepare", key: "X", ballot: n(2001), proposalId: P }]);
    expect(step.state.phase).toBe("prepare");
    expect(startProposal(config, "X", "3", 1000, START).state.ballot).toEqual(n(1000));
  });

  // "with promises from a majority": distinct, configured acceptors only.
  it("proposer - needs promises from a majority of distinct configured acceptors", () => {
    const start = startProposal(config, "X", "3", 0, START).state;
    const waiting = feed(start, [promise("A", n(1)), promise("A", n(1)), promise("Z", n(1))]);
    expect(waiting.state.phase).toBe("prepare");
    expect(waiting.outbox).toEqual([]);
    const step = feed(waiting.state, [promise("C", n(1))]);
    expect(step.state.phase).toBe("accept");
    expect(step.outbox).toEqual([{ type: "accept", key: "X", ballot: n(1), value: "3", proposalId: P }]);
    expect(step.state.acceptSent).toBe(true);
  });

  it.each([
    { name: "another key", msg: { ...promise("A", n(1)), key: "Y" } },
    { name: "an older ballot", msg: promise("A", n(1, "P0")) },
    { name: "an Accepted in phase 1", msg: accepted("A", n(1)) },
  ])("proposer - ignores a reply for $name", ({ msg }) => {
    const start = startProposal(config, "X", "3", 0, START).state;
    const step = feed(start, [msg, promise("B", n(1))]);
    expect(step.state.phase).toBe("prepare");
    expect(step.state.promises.map((p) => p.from)).toEqual(["B"]);
  });

  // "v is the value of the highest-ID accepted proposal among the replies, or its own value".
  it.each([
    { name: "no accepted proposals: own value", a: null, b: null, want: "3" },
    { name: "one accepted proposal", a: null, b: [n(3, "P2"), "7"], want: "7" },
    { name: "the higher round wins", a: [n(5, "P0"), "7"], b: [n(4, "P9"), "9"], want: "7" },
    { name: "same round: node ID breaks the tie", a: [n(5, "P0"), "7"], b: [n(5, "P2"), "9"],
      want: "9" },
  ] as { name: string; a: [Ballot, string] | null; b: [Ballot, string] | null; want: string }[])(
    "proposer - phase 2 value: $name", ({ a, b, want }) => {
      const start = startProposal(config, "X", "3", 10, START).state;
      const step = feed(start, [promise("A", start.ballot, a), promise("B", start.ballot, b)]);
      expect(step.outbox).toEqual([{ type: "accept", key: "X", ballot: n(10), value: want, proposalId: P }]);
      expect(step.events).toContainEqual({
        type: "accept", ballot: n(10), adopted: a !== null || b !== null,
      });
    });

  // "once a majority accepted (n, v), v is chosen".
  it("proposer - chooses on Accepted from a majority of distinct configured acceptors", () => {
    const waiting = feed(inAcceptPhase(), [accepted("C", n(1)), accepted("C", n(1)),
      accepted("Z", n(1)), accepted("A", n(1, "P0"))]);
    expect(waiting.state.phase).toBe("accept");
    const step = feed(waiting.state, [accepted("A", n(1))], 5);
    expect(step.state.outcome).toEqual({ kind: "chosen", value: "3", ballot: n(1),
      acceptors: ["C", "A"] });
    expect(nextWakeAt(step.state)).toBeNull();
    expect(feed(step.state, [accepted("B", n(1))]).state).toBe(step.state);
  });

  // "A rejected proposer retries with a higher ID after a randomized back-off".
  it.each([
    { phase: "prepare" as const, state: () => startProposal(config, "X", "3", 0, START).state },
    { phase: "accept" as const, state: inAcceptPhase },
  ])("proposer - a majority of nacks in $phase backs off, then retries above the promised",
    ({ phase, state }) => {
      const p2 = n(50, "P2");
      const one = feed(state(), [nack("A", n(1), p2, phase)], 3);
      expect(one.state.phase).toBe(phase);
      const two = feed(one.state, [nack("A", n(1), p2, phase), nack("B", n(1), p2, phase)], 3);
      expect(two.state.phase).toBe("backoff");
      expect(two.events).toEqual([{ type: "retry", ballot: n(1), reason: "refused",
        backoffTicks: two.state.wakeAt - 3 }]);
      const wake = two.state.wakeAt;
      expect(onTick(config, two.state, wake - 1, seededRandom(1)).outbox).toEqual([]);
      const again = onTick(config, two.state, wake, seededRandom(1));
      expect(again.outbox).toEqual([{ type: "prepare", key: "X", ballot: n(51), proposalId: P }]);
      expect(again.state.rounds).toBe(2);
      expect(again.state.promises).toEqual([]);
    });

  it("proposer - a stale nack only raises the ballot it will retry above", () => {
    const start = startProposal(config, "X", "3", 0, START).state;
    const step = feed(start, [nack("A", n(1, "P0"), n(70, "P2")), nack("B", n(1, "P0"), n(9))]);
    expect(step.state.phase).toBe("prepare");
    expect(step.state.seen).toEqual(n(70, "P2"));
    expect(step.state.refusals).toEqual([]);
  });

  // Regression: a duplicated Prepare(n) is refused by the acceptor that promised n ("no more
  // Prepare <= n") and the nack names n itself; counting it as a refusal retried needlessly.
  it("proposer - a nack echoing its own ballot (a duplicate Prepare) is not a refusal", () => {
    const start = startProposal(config, "X", "3", 0, START).state;
    const echoes = feed(start, [nack("A", n(1), n(1)), nack("B", n(1), n(1))]);
    expect(echoes.state.phase).toBe("prepare");
    expect(echoes.state.refusals).toEqual([]);
    expect(feed(echoes.state, [promise("A", n(1)), promise("B", n(1))]).state.phase)
      .toBe("accept");
  });

  // Regression: an acceptor that accepted n and then promised a higher ballot nacks a duplicate
  // Accept(n); its Accepted still counts, so it must not also count against the majority.
  it("proposer - an acceptor that already voted yes in this phase cannot also refuse", () => {
    const p2 = n(9, "P2");
    const step = feed(inAcceptPhase(), [accepted("A", n(1)), nack("A", n(1), p2, "accept"),
      nack("B", n(1), p2, "accept")]);
    expect(step.state.phase).toBe("accept");
    expect(step.state.seen).toEqual(p2);
    expect(feed(step.state, [accepted("C", n(1))]).state.outcome?.kind).toBe("chosen");
  });

  it.each([
    { phase: "prepare", state: () => startProposal(config, "X", "3", 0, START).state },
    { phase: "accept", state: inAcceptPhase },
  ])("proposer - a phase timeout in $phase backs off and retries", ({ state }) => {
    const s = state();
    expect(onTick(config, s, s.wakeAt - 1, seededRandom(1)).state).toBe(s);
    const step = onTick(config, s, s.wakeAt, seededRandom(1));
    expect(step.state.phase).toBe("backoff");
    expect(step.events[0]).toMatchObject({ type: "retry", reason: "timeout" });
  });

  it("proposer - back-off stays within [1, min(max, base * 2^round)]", () => {
    for (let seed = 0; seed < 50; seed++) {
      let state = startProposal({ ...config, deadlineTicks: 10_000 }, "X", "3", 0, START).state;
      for (let round = 1; round <= 4; round++) {
        const now = state.wakeAt;
        const step = onTick({ ...config, deadlineTicks: 10_000 }, state, now, seededRandom(seed));
        const backoff = step.state.wakeAt - now;
        expect(backoff).toBeGreaterThanOrEqual(1);
        expect(backoff).toBeLessThanOrEqual(Math.min(16, 2 * 2 ** round));
        state = onTick(config, step.state, step.state.wakeAt, seededRandom(seed)).state;
      }
    }
  });

  // DESIGN.md: `UNAVAILABLE` "means the create certainly did not take effect (no Accept left the
  // proposer)"; once an Accept was sent "the answer is `TIMEOUT`".
  it.each([
    { name: "no Accept was ever sent", start: () => startProposal(config, "X", "3", 0, START).state,
      kind: "unavailable" },
    { name: "an Accept was sent", start: inAcceptPhase, kind: "timeout" },
  ])("proposer - gives up at the deadline when $name", ({ start, kind }) => {
    const patient = { ...config, roundCountMax: 1000 };
    for (let seed = 0; seed < 50; seed++) {
      const { state } = runSilent(start(), seed, patient);
      expect(state.outcome?.kind).toBe(kind);
      expect(state.wakeAt).toBeLessThanOrEqual(state.startedAt + config.deadlineTicks);
    }
  });

  it("proposer - gives up after roundCountMax ballots", () => {
    const patient = { ...config, deadlineTicks: 1e6 };
    const { state, prepares } = runSilent(startProposal(patient, "X", "3", 0, START).state, 1, patient);
    expect(state.outcome).toEqual({ kind: "unavailable", rounds: config.roundCountMax });
    expect(prepares).toBe(config.roundCountMax - 1);
  });

  it("proposer - every retry ballot is above the one before", () => {
    let state = startProposal(config, "X", "3", 0, START).state;
    const random = seededRandom(3);
    let last = state.ballot;
    for (let wake = nextWakeAt(state); wake !== null; wake = nextWakeAt(state)) {
      state = onTick(config, state, wake, random).state;
      if (state.phase === "prepare") {
        expect(compareBallots(state.ballot, last)).toBe(1);
        last = state.ballot;
      }
    }
  });

  describe("fast round", () => {
    const fastAccept = { type: "accept", key: "X", ballot: FAST_BALLOT, value: "3", proposalId: P };
    const start = () => startProposal(config, "X", "3", 0, { id: P, fast: true });

    it("proposer - a fast round sends Accept at the fast ballot, no Prepare", () => {
      const step = start();
      expect(step.outbox).toEqual([fastAccept]);
      expect(step.state.phase).toBe("fast");
      expect(step.state.acceptSent).toBe(true);
    });

    it("proposer - a fast round is chosen only when all three acceptors take it", () => {
      const two = feed(start().state, [accepted("A", FAST_BALLOT), accepted("B", FAST_BALLOT),
        accepted("B", FAST_BALLOT), accepted("Z", FAST_BALLOT)]);
      expect(two.state.phase).toBe("fast");
      const three = feed(two.state, [accepted("C", FAST_BALLOT)]);
      expect(three.state.outcome).toEqual({ kind: "chosen", value: "3", ballot: FAST_BALLOT,
        acceptors: ["A", "B", "C"] });
    });

    it("proposer - one refusal of a fast round starts a classic round at once", () => {
      const step = feed(start().state, [accepted("A", FAST_BALLOT),
        nack("B", FAST_BALLOT, n(7, "P2"), "accept")], 2);
      expect(step.state.phase).toBe("prepare");
      expect(step.outbox).toEqual([{ type: "prepare", key: "X", ballot: n(8), proposalId: P }]);
      expect(step.events[0]).toEqual(
        { type: "retry", ballot: FAST_BALLOT, reason: "refused", backoffTicks: 0 });
    });

    it("proposer - a fast round that times out goes on as a classic round", () => {
      const step = onTick(config, start().state, 10, seededRandom(1));
      expect(step.state.phase).toBe("prepare");
      expect(step.events[0]).toMatchObject({ reason: "timeout", ballot: FAST_BALLOT });
      // Past the deadline it ends as "timeout": its Accept went out, the value may be chosen.
      const late = onTick(config, start().state, 100, seededRandom(1));
      expect(late.state.outcome).toEqual({ kind: "timeout", rounds: 1 });
    });

    it.each([
      { name: "both took the same fast value", a: "7", b: "7", want: "7" },
      { name: "they took different fast values", a: "7", b: "9", want: "3" },
      { name: "one took a fast value, one nothing", a: "7", b: null, want: "3" },
    ])("proposer - after a fast round, a classic round keeps a value only if all three may " +
      "have taken it: $name", ({ a, b, want }) => {
      const prior = (v: string | null): [Ballot, string] | null =>
        v === null ? null : [FAST_BALLOT, v];
      const state = startProposal(config, "X", "3", 10, START).state;
      const step = feed(state, [promise("A", n(10), prior(a)), promise("B", n(10), prior(b))]);
      expect(step.outbox).toEqual([{ type: "accept", key: "X", ballot: n(10), value: want, proposalId: P }]);
    });

    it("proposer - five acceptors: two of three reporting a fast value keep it", () => {
      const five = ["A", "B", "C", "D", "E"];
      const reports = (values: (string | null)[]) => values.map((v, i) =>
        ({ from: five[i] ?? "", accepted: v === null ? null : { ballot: FAST_BALLOT, value: v } }));
      expect(valueToKeep(5, reports(["7", "7", null]))?.value).toBe("7");
      expect(valueToKeep(5, reports(["7", "9", null]))).toBeNull();
      // Four heard: a fast quorum of 4 leaves out one acceptor, so three must report it.
      expect(valueToKeep(5, reports(["7", "9", "9", null]))).toBeNull();
      expect(valueToKeep(5, reports(["9", "9", "9", null]))?.value).toBe("9");
      // A classic ballot above the fast one wins as always.
      expect(valueToKeep(5, [...reports(["7", "7"]),
        { from: "C", accepted: { ballot: n(4), value: "1" } }])?.value).toBe("1");
    });
  });
});
