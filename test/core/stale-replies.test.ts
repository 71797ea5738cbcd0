/**
 * A reply counted for the wrong proposal can choose two values (issue: "a late fast-round reply
 * can make two values chosen"). These replay the two traces found by review and by a bounded
 * exhaustive exploration of the core, step by step, with the real core functions:
 *
 * 1. Node N's first proposal (client 1, k=v1) starts fast; only A takes v1, and its Accepted is
 *    held back (an fsync stall, a paused process) until N's next proposal of k (client 2, v2) is
 *    in its fast round, which B and C take. Counted for the second proposal, A's late Accepted
 *    made a "fast quorum" A, B, C for v2, though A holds v1; node M's classic round then chose
 *    its own w with A and B.
 * 2. N's first proposal jumps ahead to round 3 after M's refusals and has v1 chosen at (3, N); its
 *    next proposal started at clock 3 took the same ballot, counted the first one's late
 *    Promises, and had A and B accept (3, N, n2) over the chosen n1.
 *
 * Each runs twice: with the real core (one value chosen) and with the proposer counting every
 * reply for the key (two values chosen), to show the replay can fail.
 */
import { describe, expect, it } from "vitest";
import {
  EMPTY_ACCEPTOR_STATE, onAccept, onPrepare, type AcceptorState,
} from "../../src/core/acceptor.js";
import { ballot, compareBallots, formatBallot, isFastBallot, type Ballot } from "../../src/core/ballot.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../../src/core/messages.js";
import {
  ballotFloor, onReply, onTick, startProposal, type ProposalState, type ProposerConfig,
  type ProposerStep,
} from "../../src/core/proposer.js";
import { fastQuorumSize, quorumSize } from "../../src/core/quorum.js";
import { seededRandom } from "../../src/core/random.js";

const ACCEPTORS = ["A", "B", "C"];
const configOf = (nodeId: string): ProposerConfig => ({
  nodeId, acceptors: ACCEPTORS, phaseTimeoutTicks: 10, backoffBaseTicks: 1, backoffMaxTicks: 1,
  deadlineTicks: 30, roundCountMax: 5,
});

type OnReply = typeof onReply;
/** The planted bug: every reply for the key counts, as before replies named their proposal. */
const countingEveryReply: OnReply = (config, state, msg, now, random) =>
  onReply(config, state, { ...msg, proposalId: state.id }, now, random);

/** Acceptors, the replies they hold back, and what each proposer reported chosen. */
class World {
  readonly state = new Map<string, AcceptorState>(ACCEPTORS.map((a) => [a, EMPTY_ACCEPTOR_STATE]));
  readonly reported: string[] = [];
  readonly random = seededRandom(1);

  constructor(readonly onReplyOf: OnReply) {}

  /** Acceptor `to` handles `msg` and persists; returns its reply. */
  handle(to: string, msg: ProposerToAcceptor): AcceptorToProposer {
    const before = this.state.get(to) ?? EMPTY_ACCEPTOR_STATE;
    const step = msg.type === "prepare" ? onPrepare(before, msg, to) : onAccept(before, msg, to);
    this.state.set(to, step.state);
    return step.reply;
  }

  feed(config: ProposerConfig, step: ProposerStep, reply: AcceptorToProposer, now: number):
    ProposerStep {
    return this.note(this.onReplyOf(config, step.state, reply, now, this.random));
  }

  note(step: ProposerStep): ProposerStep {
    for (const e of step.events) {
      if (e.type === "done" && e.outcome.kind === "chosen") {
        this.reported.push(`${e.outcome.value}@${formatBallot(e.outcome.ballot)}`);
      }
    }
    return step;
  }

  /**
   * Runs a proposal to its end with only `reachable` acceptors answering, each reply delivered
   * at once; a phase nobody completes times out at its wake-up.
   */
  run(config: ProposerConfig, step: ProposerStep, reachable: readonly string[]): ProposerStep {
    let now = step.state.startedAt;
    while (step.state.phase !== "done") {
      const outbox = step.outbox;
      if (outbox.length === 0) {
        now = Math.max(now, step.state.wakeAt);
        step = this.note(onTick(config, step.state, now, this.random));
        continue;
      }
      let next: ProposerStep = { ...step, outbox: [] };
      for (const msg of outbox) {
        for (const a of reachable) {
          next = this.feed(config, next, this.handle(a, msg), now);
          if (next.outbox.length > 0) break; // a new phase began: its messages go next
        }
        if (next.outbox.length > 0) break;
      }
      step = next;
    }
    return step;
  }

  /** The values a majority (classic ballot) or a fast quorum (fast ballot) holds. */
  chosenByAcceptors(): string[] {
    const tally = new Map<string, number>();
    for (const s of this.state.values()) {
      if (s.accepted === null) continue;
      const id = `${s.accepted.value}@${formatBallot(s.accepted.ballot)}`;
      tally.set(id, (tally.get(id) ?? 0) + 1);
    }
    return [...tally].filter(([id, count]) => count >= (id.endsWith("@0.fast")
      ? fastQuorumSize(ACCEPTORS.length) : quorumSize(ACCEPTORS.length))).map(([id]) => id);
  }

  /** Every value reported or held chosen, without ballots: one value is the promise. */
  values(): Set<string> {
    return new Set([...this.reported, ...this.chosenByAcceptors()].map((c) => c.split("@")[0] ?? c));
  }
}

function lateFastAccepted(world: World): void {
  const n = configOf("N");
  // Client 1's create: only A gets the fast Accept; its reply is held back.
  const first = startProposal(n, "k", "v1", 0, { id: "N.1", fast: true });
  const accept1 = first.outbox[0] as ProposerToAcceptor;
  const late = world.handle("A", accept1);
  expect(late.type).toBe("accepted");
  // B and C are unreachable until client 1's deadline: nothing reaches them, it times out.
  const ended = world.run(n, first, []);
  expect(ended.state.outcome?.kind).toBe("timeout");
  const floor = ballotFloor(null, ended.state);
  // Client 2's create of k through N: B and C take v2 at the fast ballot, A refuses it.
  let second = startProposal(n, "k", "v2", 40, { id: "N.2", above: floor, fast: true });
  const accept2 = second.outbox[0] as ProposerToAcceptor;
  const fromB = world.handle("B", accept2);
  const fromC = world.handle("C", accept2);
  const nackA = world.handle("A", accept2);
  expect(nackA.type).toBe("nack");
  // A's late Accepted from client 1's proposal arrives before its nack.
  for (const reply of [late, fromB, fromC, nackA]) second = world.feed(n, second, reply, 41);
  world.run(n, second, ACCEPTORS);
  // Node M runs a classic round for its own w, hearing A and B.
  const m = configOf("M");
  world.run(m, startProposal(m, "k", "w", 50, { id: "M.1" }), ["A", "B"]);
}

function reusedBallot(world: World, useFloor: boolean): void {
  const n = configOf("N");
  const m = configOf("M");
  // M has (2, M) promised at A and B: N's first proposal, refused, jumps to round seen + 1 = 3.
  const prepareM = startProposal(m, "k", "m", 2, { id: "M.1" }).outbox[0] as ProposerToAcceptor;
  world.handle("A", prepareM);
  world.handle("B", prepareM);
  let first = startProposal(n, "k", "n1", 1, { id: "N.1" });
  const prepare1 = first.outbox[0] as ProposerToAcceptor;
  first = world.feed(n, first, world.handle("A", prepare1), 1);
  first = world.feed(n, first, world.handle("B", prepare1), 1);
  first = world.feed(n, first, world.handle("C", prepare1), 1);
  first = world.note(onTick(n, first.state, first.state.wakeAt, world.random));
  expect(first.state.ballot).toEqual(ballot(3, "N"));
  // Round 3: A and B promise (B's promise also duplicated, C's in flight); n1 is chosen by A, B.
  const prepare3 = first.outbox[0] as ProposerToAcceptor;
  const promiseA = world.handle("A", prepare3);
  const promiseB = world.handle("B", prepare3);
  const promiseC = world.handle("C", prepare3);
  first = world.feed(n, first, promiseA, 2);
  first = world.feed(n, first, promiseB, 2);
  const accept3 = first.outbox[0] as ProposerToAcceptor;
  first = world.feed(n, first, world.handle("A", accept3), 2);
  first = world.feed(n, first, world.handle("B", accept3), 2);
  expect(first.state.outcome).toMatchObject({ kind: "chosen", value: "n1" });
  // N's next proposal starts when its clock reads 3: without the floor, the same ballot (3, N).
  const floor = useFloor ? ballotFloor(null, first.state) : null;
  let second = startProposal(n, "k", "n2", 3, { id: "N.2", above: floor });
  expect(compareBallots(second.state.ballot, ballot(3, "N")) === 0).toBe(!useFloor);
  // The first proposal's late Promises (B's duplicate, C's) arrive before any of its own.
  second = world.feed(n, second, promiseB, 3);
  second = world.feed(n, second, promiseC, 3);
  world.run(n, second, ["A", "B"]);
}

describe("replies bound to their proposal", () => {
  it("core - a late fast-round Accepted is not counted for the next proposal: one value", () => {
    const world = new World(onReply);
    lateFastAccepted(world);
    expect([...world.values()]).toHaveLength(1);
    expect(world.reported.every((r) => r.startsWith("v2"))).toBe(true);
  });

  it("core - counting it (the old proposer) chooses two values in the same replay", () => {
    const world = new World(countingEveryReply);
    lateFastAccepted(world);
    expect([...world.values()].sort()).toEqual(["v2", "w"]);
  });

  it("core - the next proposal goes above every ballot the process used: one value", () => {
    for (const useFloor of [true, false]) {
      const world = new World(onReply);
      reusedBallot(world, useFloor);
      expect([...world.values()], `floor ${String(useFloor)}`).toEqual(["n1"]);
    }
  });

  it("core - with neither the ID check nor the floor, the same replay chooses two values", () => {
    const world = new World(countingEveryReply);
    reusedBallot(world, false);
    expect([...world.values()].sort()).toEqual(["n1", "n2"]);
    // Each line of defence alone keeps one value.
    const withFloor = new World(countingEveryReply);
    reusedBallot(withFloor, true);
    expect([...withFloor.values()]).toEqual(["n1"]);
  });

  it("core - ballotFloor keeps the highest classic ballot and ignores the shared fast one", () => {
    const fast = startProposal(configOf("N"), "k", "v", 5, { id: "x", fast: true }).state;
    expect(ballotFloor(null, fast)).toBeNull();
    const classic: ProposalState = startProposal(configOf("N"), "k", "v", 5, { id: "y" }).state;
    const b: Ballot = ballot(9, "M");
    expect(ballotFloor(b, classic)).toEqual(b);
    expect(ballotFloor(null, classic)).toEqual(ballot(5, "N"));
    expect(isFastBallot(fast.ballot)).toBe(true);
  });
});
