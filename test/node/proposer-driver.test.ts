import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { echoProposal } from "../../src/core/acceptor.js";
import { ballot, FAST_BALLOT, formatBallot } from "../../src/core/ballot.js";
import type { ProposerToAcceptor } from "../../src/core/messages.js";
import { seededRandom } from "../../src/core/random.js";
import { pino } from "pino";
import {
  FAST_PAUSE_MS, FAST_RECENT_MS, ProposerDriver, type DriverConfig,
} from "../../src/node/roles/proposer-driver.js";

const ACCEPTORS = ["A", "B", "C"];

/** A driver with a hand-moved clock; `sent` collects what it sends, as "type ballot". */
function setUp(timing: Pick<DriverConfig, "fastRecentMs" | "fastPauseMs"> = {}) {
  let now = 1_000;
  const sent: ProposerToAcceptor[] = [];
  const driver = new ProposerDriver({
    nodeId: "P", acceptors: ACCEPTORS, phaseTimeoutTicks: 500, backoffBaseTicks: 5,
    backoffMaxTicks: 50, deadlineTicks: 4_000, roundCountMax: 100, ...timing,
  }, (m) => sent.push(m), pino({ level: "silent" }), [], seededRandom(1), () => now);
  const last = () => {
    const m = sent.at(-1);
    return m === undefined ? "" : `${m.type} ${formatBallot(m.ballot)}`;
  };
  /** Every acceptor in `from` takes the last Accept (or promises the last Prepare). */
  const answer = (from: readonly string[]) => {
    const m = sent.at(-1) as ProposerToAcceptor;
    for (const acceptor of from) {
      driver.deliver(m.type === "accept"
        ? { type: "accepted", key: m.key, from: acceptor, ballot: m.ballot, ...echoProposal(m) }
        : { type: "promise", key: m.key, from: acceptor, ballot: m.ballot, accepted: null,
          ...echoProposal(m) });
    }
  };
  return { driver, sent, last, answer, tick: (ms: number) => { now += ms; } };
}

describe("proposer driver - when to try a fast round", () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it("driver - a fresh create is fast only while every acceptor answered lately", async () => {
    const { driver, last, answer, tick } = setUp();
    const first = driver.propose("k1", "v", undefined, true);
    expect(last()).toMatch(/^prepare \d+\.P$/); // nobody heard yet
    answer(ACCEPTORS);
    answer(ACCEPTORS);
    expect((await first).kind).toBe("chosen");

    const second = driver.propose("k2", "v", undefined, true);
    expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
    answer(ACCEPTORS);
    expect(await second).toMatchObject({ kind: "chosen", ballot: FAST_BALLOT });
    // A create that is not marked fresh (a read repair) is always classic.
    void driver.propose("k3", "v");
    expect(last()).toMatch(/^prepare/);
    answer(ACCEPTORS);
    answer(ACCEPTORS);
    // After a quiet spell, a create starts classic again: nothing shows the acceptors alive.
    tick(FAST_RECENT_MS);
    void driver.propose("k4", "v", undefined, true);
    expect(last()).toMatch(/^prepare/);
  });

  it("driver - an acceptor silent for FAST_RECENT_MS turns fast rounds off until it answers",
    async () => {
      const { driver, last, answer, tick } = setUp();
      const warm = driver.propose("k1", "v", undefined, true);
      answer(ACCEPTORS);
      answer(ACCEPTORS);
      await warm;
      void driver.propose("k2", "v", undefined, true);
      expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
      answer(["A", "B"]); // C says nothing
      tick(FAST_RECENT_MS - 1);
      void driver.propose("k2b", "v", undefined, true);
      expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
      tick(1);
      void driver.propose("k3", "v", undefined, true);
      expect(last()).toMatch(/^prepare/);
      answer(ACCEPTORS); // C is back
      void driver.propose("k4", "v", undefined, true);
      expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
    });

  it("driver - a fast round that timed out pauses fast rounds for FAST_PAUSE_MS", async () => {
    const { driver, last, answer, tick } = setUp();
    const warm = driver.propose("k1", "v", undefined, true);
    answer(ACCEPTORS);
    answer(ACCEPTORS);
    await warm;
    const fast = driver.propose("k2", "v", undefined, true);
    answer(["A", "B"]);
    tick(500);
    vi.advanceTimersByTime(500); // the fast round's phase timeout: a classic round follows
    expect(last()).toMatch(/^prepare/);
    answer(["A", "B", "C"]);
    answer(["A", "B", "C"]);
    expect((await fast).kind).toBe("chosen");
    void driver.propose("k3", "v", undefined, true);
    expect(last()).toMatch(/^prepare/);
    tick(FAST_PAUSE_MS);
    answer(ACCEPTORS);
    void driver.propose("k4", "v", undefined, true);
    expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
  });

  it("driver - PAXOSKV_FAST_RECENT_MS and PAXOSKV_FAST_PAUSE_MS replace the defaults",
    async () => {
      const { driver, last, answer, tick } = setUp({ fastRecentMs: 1000, fastPauseMs: 3000 });
      const warm = driver.propose("k1", "v", undefined, true);
      answer(ACCEPTORS);
      answer(ACCEPTORS);
      await warm;
      tick(999); // quiet for five times the default, within the configured
      const fast = driver.propose("k2", "v", undefined, true);
      expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
      answer(["A", "B"]);
      tick(500);
      vi.advanceTimersByTime(500); // the fast round times out: a pause of 3000, not 1000
      expect(last()).toMatch(/^prepare/);
      answer(ACCEPTORS);
      answer(ACCEPTORS);
      expect((await fast).kind).toBe("chosen");
      tick(FAST_PAUSE_MS);
      answer(ACCEPTORS);
      void driver.propose("k3", "v", undefined, true);
      expect(last()).toMatch(/^prepare/);
      answer(ACCEPTORS);
      answer(ACCEPTORS);
      tick(2000);
      answer(ACCEPTORS);
      void driver.propose("k4", "v", undefined, true);
      expect(last()).toBe(`accept ${formatBallot(FAST_BALLOT)}`);
    });
});

describe("proposer driver - every proposal its own", () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it("driver - a later proposal of the key has another ID, a higher ballot, and ignores the " +
    "earlier one's late replies", async () => {
    const { driver, sent, answer, tick } = setUp();
    const first = driver.propose("k", "v1");
    const prepare1 = sent.at(-1) as ProposerToAcceptor;
    answer(ACCEPTORS);
    answer(ACCEPTORS);
    expect(await first).toMatchObject({ kind: "chosen", value: "v1" });
    tick(-900); // the clock steps back: a timestamp alone would give the same ballot again
    void driver.propose("k", "v2");
    const prepare2 = sent.at(-1) as ProposerToAcceptor;
    expect(prepare2.proposalId).not.toBe(prepare1.proposalId);
    expect(prepare2.ballot.round).toBeGreaterThan(prepare1.ballot.round);
    // The first proposal's late promises, even re-addressed to this ballot, are not counted.
    for (const from of ACCEPTORS) {
      driver.deliver({ type: "promise", key: "k", from, ballot: prepare2.ballot, accepted: null,
        ...echoProposal(prepare1) });
    }
    expect(driver.running("k")?.state.promises).toEqual([]);
    answer(["A", "B"]);
    expect(driver.running("k")?.state.phase).toBe("accept");
  });
});

describe("proposer driver - a forged top ballot stays with its key", () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it("driver - after a nack naming round 2^53 - 2, later proposals of any key still start",
    async () => {
      const { driver, sent, tick } = setUp();
      void driver.propose("k1", "v");
      const prepare = sent.at(-1) as ProposerToAcceptor;
      for (const from of ["A", "B"]) {
        driver.deliver({ type: "nack", key: "k1", from, phase: "prepare", ballot: prepare.ballot,
          promised: ballot(Number.MAX_SAFE_INTEGER - 1, "Z"), ...echoProposal(prepare) });
      }
      tick(100);
      await vi.advanceTimersByTimeAsync(100); // the back-off ends: a round at 2^53 - 1
      expect(sent.at(-1)?.ballot.round).toBe(Number.MAX_SAFE_INTEGER);
      expect(() => void driver.propose("k2", "v")).not.toThrow();
      expect(sent.at(-1)?.key).toBe("k2");
      tick(5_000);
      await vi.advanceTimersByTimeAsync(5_000);
      // The key itself, too: a new proposal starts (below the floor; the ID keeps it safe).
      expect(() => void driver.propose("k1", "w")).not.toThrow();
    });
});
