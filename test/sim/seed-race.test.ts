import { describe, expect, it } from "vitest";
import { runSeedRace } from "../../src/sim/seed-race.js";

// The seed's question: client 1 creates X=3, client 2 creates X=7, on nodes A, B, C.
describe("seed race", () => {
  const { lines, cluster } = runSeedRace();

  it("seed race - every node ends with the same X, 7", () => {
    for (const [id, state] of cluster.acceptors) {
      expect(state.accepted?.value, id).toBe("7");
      expect(cluster.learners.get(id)?.get("X")?.value, id).toBe("7");
    }
    expect(cluster.outcomes.get("P1")).toMatchObject({ kind: "chosen", value: "7" });
    expect(cluster.outcomes.get("P2")).toMatchObject({ kind: "chosen", value: "7" });
  });

  it("seed race - C refuses P1's lower Prepare and every acceptor refuses its Accept", () => {
    expect(lines).toContain("t=1007  C → P1  Reject(prepare) X n=1000.P1 promised=1005.P2");
    for (const id of ["A", "B", "C"]) {
      expect(lines).toContain(`t=1008  ${id} → P1  Reject(accept) X n=1000.P1 promised=1005.P2`);
    }
  });

  it("seed race - P1 retries above 1005.P2 and adopts the accepted 7", () => {
    expect(lines).toContain("t=1011  A → P1  Promise X n=1011.P1 accepted=[1005.P2, 7]");
    expect(lines).toContain("t=1011  P1 → A  Accept X n=1011.P1 v=7");
  });

  // The whole story; `vitest -u` rewrites it, and the diff is the review (etcd-io/raft traces).
  it("seed race - the trace matches the reviewed one", async () => {
    await expect([...lines, ...cluster.summary("X"), ""].join("\n"))
      .toMatchFileSnapshot("__snapshots__/seed-race.txt");
  });
});
