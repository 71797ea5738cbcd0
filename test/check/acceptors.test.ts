/** R8: white-box invariants over snapshots of the acceptors' Redis hashes. */
import { describe, expect, it } from "vitest";
import {
  checkAcceptors, compareRaw, type AcceptorHash, type AcceptorSnapshot,
} from "../../src/check/index.js";

const ACCEPTORS = ["A", "B", "C"];

const promisedOnly = (round: string, node = "A"): AcceptorHash =>
  ({ promised_round: round, promised_node: node });
const accepted = (round: string, value: string, node = "A", promised = round): AcceptorHash => ({
  promised_round: promised, promised_node: node, accepted_round: round, accepted_node: node,
  accepted_value: value,
});

function snap(at: number, acceptor: string, keys: Record<string, AcceptorHash>): AcceptorSnapshot {
  return { at, acceptor, keys, complete: true };
}

/** A clean final state: k chosen as "v" in ballot 10.A on all three. */
const clean = () => ACCEPTORS.map((id) => snap(100, id, { k: accepted("10", "v") }));

describe("R8 acceptor invariants", () => {
  it("pass on a consistent state and on a minority that lags", () => {
    expect(checkAcceptors(clean(), { acceptors: ACCEPTORS, finalValues: new Map([["k", "v"]]) }))
      .toEqual([]);
    const lagging = [snap(1, "A", { k: accepted("10", "v") }), snap(1, "B", { k: accepted("10", "v") }),
      snap(1, "C", { k: promisedOnly("9", "B") })];
    expect(checkAcceptors(lagging, { acceptors: ACCEPTORS, finalValues: new Map([["k", "v"]]) }))
      .toEqual([]);
    // A higher ballot that carries the same value (read repair, a later proposer) is fine.
    const later = [snap(1, "A", { k: accepted("10", "v") }), snap(1, "B", { k: accepted("12", "v", "C") }),
      snap(1, "C", { k: accepted("12", "v", "C") })];
    expect(checkAcceptors(later, { acceptors: ACCEPTORS, finalValues: new Map([["k", "v"]]) }))
      .toEqual([]);
  });

  it.each([
    { name: "promised below accepted", hash: accepted("10", "v", "A", "9") },
    { name: "accepted value without its ballot", hash: { ...promisedOnly("3"), accepted_value: "v" } },
    { name: "accepted ballot without its value",
      hash: { ...promisedOnly("3"), accepted_round: "3", accepted_node: "A" } },
    { name: "half a ballot", hash: { promised_round: "3" } },
    { name: "accepted without a promise", hash: { accepted_round: "3", accepted_node: "A", accepted_value: "v" } },
    { name: "a malformed round", hash: promisedOnly("1e3") },
  ])("fail on a hash with $name", ({ hash }) => {
    const anomalies = checkAcceptors([snap(1, "A", { k: hash })], { acceptors: ACCEPTORS });
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]?.rule).toBe("R8");
  });

  it("fail when a promise goes back across samples (a restart lost a write)", () => {
    const anomalies = checkAcceptors([
      snap(1, "A", { k: promisedOnly("20") }), snap(2, "A", { k: promisedOnly("19", "Z") }),
    ], { acceptors: ACCEPTORS });
    expect(anomalies.map((a) => a.message).join()).toMatch(/promise went back/);
  });

  it("fail when an accepted ballot goes back, or a key vanishes (amnesia)", () => {
    const back = checkAcceptors([
      snap(1, "B", { k: accepted("20", "v") }), snap(2, "B", { k: accepted("5", "w", "A", "30") }),
    ], { acceptors: ACCEPTORS });
    expect(back.map((a) => a.message).join()).toMatch(/accepted ballot went back/);
    const wiped = checkAcceptors([snap(1, "C", { k: promisedOnly("1") }), snap(2, "C", {})],
      { acceptors: ACCEPTORS });
    expect(wiped.map((a) => a.message).join()).toMatch(/vanished/);
  });

  it("pass across a deliberate wipe (the nemesis's), and only there", () => {
    const across = [snap(1, "C", { k: promisedOnly("20") }), snap(3, "C", {}),
      snap(4, "C", { k: promisedOnly("5", "R") })];
    expect(checkAcceptors(across, { acceptors: ACCEPTORS, wipes: [{ acceptor: "C", at: 2 }] }))
      .toEqual([]);
    // The same samples with the wipe of another acceptor, or after them, still fail.
    expect(checkAcceptors(across, { acceptors: ACCEPTORS, wipes: [{ acceptor: "B", at: 2 }] }))
      .not.toEqual([]);
    expect(checkAcceptors(across, { acceptors: ACCEPTORS, wipes: [{ acceptor: "C", at: 5 }] }))
      .not.toEqual([]);
  });

  it("fail when the final value is not held by a majority", () => {
    const state = [snap(1, "A", { k: accepted("10", "v") }), snap(1, "B", { k: promisedOnly("10") }),
      snap(1, "C", {})];
    const anomalies = checkAcceptors(state, { acceptors: ACCEPTORS, finalValues: new Map([["k", "v"]]) });
    expect(anomalies.map((a) => a.message).join()).toMatch(/only 1 of 3 acceptors hold/);
  });

  it("fail when a majority chose a value the final read did not return", () => {
    const anomalies = checkAcceptors(clean(), { acceptors: ACCEPTORS,
      finalValues: new Map([["k", null]]) });
    expect(anomalies.map((a) => a.message).join()).toMatch(/majority accepted "v".*absent/);
    const other = checkAcceptors(clean(), { acceptors: ACCEPTORS, finalValues: new Map([["k", "w"]]) });
    expect(other.length).toBeGreaterThan(0);
  });

  it("fail when one ballot carries two values", () => {
    const state = [snap(1, "A", { k: accepted("10", "v") }), snap(1, "B", { k: accepted("10", "w") }),
      snap(1, "C", {})];
    expect(checkAcceptors(state, { acceptors: ACCEPTORS }).map((a) => a.message).join())
      .toMatch(/two values/);
  });

  it("orders ballots numerically by round, then byte-wise by node", () => {
    const b = (round: string, node: string) => ({ round, node });
    expect(compareRaw(b("9", "A"), b("10", "A"))).toBe(-1);
    expect(compareRaw(b("99", "Z"), b("100", "A"))).toBe(-1);
    expect(compareRaw(b("10", "B"), b("10", "a"))).toBe(-1);
    expect(compareRaw(b("18014398509481984", "A"), b("18014398509481985", "A"))).toBe(-1);
    expect(compareRaw(null, b("0", "A"))).toBe(-1);
  });
});
