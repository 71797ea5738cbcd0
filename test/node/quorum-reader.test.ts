/**
 * The direct quorum read's timing rules, with each acceptor's answer scripted: it settles
 * like the NATS read (a majority decides, undecided waits for the rest until the timeout),
 * and, since every call settles, it stops waiting once no answer can come.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ballot, FAST_BALLOT } from "../../src/core/ballot.js";
import type { AcceptedProposal } from "../../src/core/messages.js";
import { DirectQuorumReader } from "../../src/node/roles/quorum-reader.js";

const ACCEPTORS = ["A", "B", "C"];
const TIMEOUT_MS = 500;

type Answer = AcceptedProposal | null | "fails" | "hangs" |
  { after: number; accepted: AcceptedProposal | null };

function reader(answers: Record<string, Answer>): DirectQuorumReader {
  return new DirectQuorumReader(ACCEPTORS, (id) => {
    const answer = answers[id] ?? null;
    if (answer === "fails") return Promise.reject(new Error("redis down"));
    if (answer === "hangs") return new Promise(() => undefined);
    if (answer !== null && "after" in answer) {
      return new Promise((resolve) => setTimeout(() => resolve(answer.accepted), answer.after));
    }
    return Promise.resolve(answer);
  }, TIMEOUT_MS);
}

/** The read's result and the fake time it took. */
async function timedRead(r: DirectQuorumReader): Promise<{ kind: string; ms: number }> {
  const start = Date.now();
  const read = r.read("k");
  await vi.runAllTimersAsync();
  return { kind: (await read).kind, ms: Date.now() - start };
}

const classic = { ballot: ballot(5, "A"), value: "v" };
const fast = { ballot: FAST_BALLOT, value: "f" };

describe("direct quorum read", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it.each<[string, Record<string, Answer>, string, number]>([
    ["a majority's same classic proposal is chosen at once", { A: classic, B: classic, C: "hangs" },
      "chosen", 0],
    ["a majority with nothing accepted is absent at once", { A: null, B: null, C: "hangs" },
      "absent", 0],
    ["a fast value shows undecided in two answers: the third settles it", {
      A: fast, B: fast, C: { after: 100, accepted: fast } }, "chosen", 100],
    ["undecided, the third hung: classified at the timeout", { A: fast, B: fast, C: "hangs" },
      "undecided", TIMEOUT_MS],
    ["undecided, the third failed: no need to wait", { A: fast, B: fast, C: "fails" },
      "undecided", 0],
    ["two failed: insufficient at once", { A: classic, B: "fails", C: "fails" },
      "insufficient", 0],
    ["two hung: insufficient at the timeout", { A: classic, B: "hangs", C: "hangs" },
      "insufficient", TIMEOUT_MS],
  ])("direct quorum read - %s", async (_, answers, kind, ms) => {
    expect(await timedRead(reader(answers))).toEqual({ kind, ms });
  });
});
