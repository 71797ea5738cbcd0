/**
 * The write-once checker (R1–R7): every rule fails on a hand-written history that plants its
 * anomaly, passes on the legal histories next to it, and agrees with a brute-force search for
 * a linearization on thousands of small random histories.
 */
import { describe, expect, it } from "vitest";
import { checkHistory, type Anomaly, type Op, type Outcome } from "../../src/check/index.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";

let nextId = 0;
/** A terse op: `op("create", 0, 10, {type:"created", value:"a"}, {value:"a"})`. */
function op(
  kind: Op["kind"], ti: number, tc: number | null, outcome: Outcome,
  extra: Partial<Pick<Op, "value" | "key" | "replica" | "phase" | "process">> = {},
): Op {
  return { id: ++nextId, process: extra.process ?? "p", key: extra.key ?? "k", kind, ti, tc,
    outcome, ...extra };
}
const created = (v: string, ti: number, tc: number, extra = {}) =>
  op("create", ti, tc, { type: "created", value: v }, { value: v, ...extra });
const exists = (v: string, w: string, ti: number, tc: number) =>
  op("create", ti, tc, { type: "exists", value: w }, { value: v });
const unknown = (v: string, ti: number, tc: number | null = null) =>
  op("create", ti, tc, { type: "unknown", code: "TIMEOUT" }, { value: v });
const failed = (v: string, ti: number, tc: number) =>
  op("create", ti, tc, { type: "fail", code: "UNAVAILABLE" }, { value: v });
const lread = (w: string | null, ti: number, tc: number, extra = {}) =>
  op("lread", ti, tc, w === null ? { type: "absent" } : { type: "value", value: w }, extra);
const rread = (w: string | null, ti: number, tc: number, extra = {}) =>
  op("rread", ti, tc, w === null ? { type: "absent" } : { type: "value", value: w }, extra);

const rules = (anomalies: readonly Anomaly[]) => [...new Set(anomalies.map((a) => a.rule))].sort();

describe("write-once checker: legal histories pass", () => {
  it.each([
    { name: "empty history", ops: () => [] },
    { name: "one create and reads of it", ops: () => [
      lread(null, 0, 1), created("a", 2, 5), lread("a", 6, 7), rread("a", 8, 9)] },
    { name: "a race: one winner, the loser sees the winner's value", ops: () => [
      created("a", 0, 10), exists("b", "a", 1, 9), lread("a", 11, 12)] },
    { name: "an absent read concurrent with the create", ops: () => [
      created("a", 0, 10), lread(null, 5, 20)] },
    { name: "an unknown create takes effect long after, even after absent reads", ops: () => [
      unknown("a", 0, 5), lread(null, 6, 7), lread(null, 8, 9), lread("a", 30, 31)] },
    { name: "an unknown create never takes effect", ops: () => [unknown("a", 0), lread(null, 50, 51)] },
    { name: "a failed create on an empty key", ops: () => [failed("a", 0, 1), lread(null, 2, 3)] },
    { name: "a failed create loses to another value", ops: () => [
      failed("a", 0, 1), created("b", 2, 3), lread("b", 4, 5)] },
    { name: "replica reads may be stale on a miss", ops: () => [
      created("a", 0, 1), rread(null, 2, 3), rread("a", 4, 5), rread(null, 6, 7)] },
    { name: "failed and unknown reads are dropped", ops: () => [
      created("a", 0, 1), op("lread", 2, 3, { type: "fail" }), op("lread", 4, null, { type: "unknown" })] },
  ])("$name", ({ ops }) => {
    const result = checkHistory(ops());
    expect(result.anomalies).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it("keys are independent", () => {
    const result = checkHistory([
      created("a", 0, 1, { key: "x" }), created("b", 0, 1, { key: "y" }),
      lread("a", 2, 3, { key: "x" }), lread("b", 2, 3, { key: "y" })]);
    expect(result.ok).toBe(true);
    expect(result.values).toEqual(new Map([["x", "a"], ["y", "b"]]));
  });
});

describe("write-once checker: each rule fails on its planted anomaly", () => {
  it.each([
    { rule: "R1", name: "two values observed (split brain)", ops: () => [
      created("a", 0, 1), lread("b", 2, 3), created("b", 0, 1)] },
    { rule: "R1", name: "a replica serves a different value", ops: () => [
      created("a", 0, 1), rread("z", 2, 3), created("z", 0, 4)] },
    { rule: "R2", name: "two creates answer created:true", ops: () => {
      const c1 = created("a", 0, 1);
      return [c1, { ...created("b", 0, 1), outcome: { type: "created", value: "a" } } as Op];
    } },
    { rule: "R2", name: "created:true with a value the create did not propose", ops: () => [
      { ...created("a", 0, 1), outcome: { type: "created", value: "q" } } as Op,
      created("q", 0, 2)] },
    { rule: "R3", name: "a value appears from nowhere", ops: () => [lread("ghost", 0, 1)] },
    { rule: "R3", name: "a create that reported UNAVAILABLE took effect", ops: () => [
      failed("a", 0, 1), lread("a", 2, 3)] },
    { rule: "R3", name: "a create sees its own value as already there", ops: () => [
      exists("a", "a", 0, 1)] },
    { rule: "R4", name: "absent after present (a)", ops: () => [
      unknown("a", 0), lread("a", 1, 2), lread(null, 3, 4)] },
    { rule: "R4", name: "absent after an acknowledged create (b) with other observers", ops: () => [
      created("a", 0, 10), lread("a", 5, 20), lread(null, 11, 12)] },
    { rule: "R4", name: "value before its create (c)", ops: () => [
      lread("a", 0, 1), created("a", 2, 3)] },
    { rule: "R4", name: "a replica read of the value before its create", ops: () => [
      rread("a", 0, 1), unknown("a", 2)] },
    { rule: "R4", name: "equal times count as a violation", ops: () => [
      lread("a", 0, 5), created("a", 5, 6)] },
    { rule: "R5", name: "an acknowledged create on a key every later read finds empty", ops: () => [
      created("a", 0, 1), lread(null, 2, 3)] },
  ])("$rule: $name", ({ rule, ops }) => {
    const result = checkHistory(ops());
    expect(result.ok).toBe(false);
    expect(rules(result.anomalies)).toContain(rule);
  });

  it("R6: an acknowledged create lost across the final phase", () => {
    const history = [created("a", 0, 1), lread("a", 2, 3, { phase: "final" }),
      lread(null, 4, 5, { phase: "restart" })];
    const result = checkHistory(history, { durabilityPhases: ["final", "restart"] });
    expect(rules(result.anomalies)).toContain("R6");
    expect(result.anomalies.find((a) => a.rule === "R6")?.message).toContain("restart");
    // The same history without the restart read: never read back is reported too.
    const missing = checkHistory(history.slice(0, 2), { durabilityPhases: ["final", "restart"] });
    expect(missing.anomalies.map((a) => a.message).join()).toContain("never read back");
    // And a clean durability check passes.
    expect(checkHistory(history.slice(0, 2), { durabilityPhases: ["final"] }).ok).toBe(true);
    // A create acknowledged after the phase began is not the phase's to read back.
    expect(checkHistory([lread(null, 2, 3, { key: "other", phase: "final" }), created("b", 4, 5)],
      { durabilityPhases: ["final"] }).ok).toBe(true);
  });

  it("R7 (iii): one replica goes back from a value to absent", () => {
    const history = [created("a", 0, 1), rread("a", 2, 3, { replica: "D/1" }),
      rread(null, 4, 5, { replica: "D/1" })];
    expect(rules(checkHistory(history).anomalies)).toEqual(["R7"]);
    // A restarted replica (a new incarnation) may start empty; another replica may lag.
    expect(checkHistory([history[0] as Op, history[1] as Op,
      rread(null, 4, 5, { replica: "D/2" }), rread(null, 4, 5, { replica: "A/1" })]).ok).toBe(true);
  });

  it("R7 (iv): a replica still misses a key after convergence", () => {
    const history = [created("a", 0, 1), rread(null, 10, 11), rread(null, 20, 21)];
    expect(checkHistory(history, { convergedAt: 30 }).ok).toBe(true);
    expect(rules(checkHistory(history, { convergedAt: 15 }).anomalies)).toEqual(["R7"]);
  });

  it("reports the operations behind an anomaly", () => {
    const c = created("a", 0, 1);
    const r = lread(null, 2, 3);
    const [anomaly] = checkHistory([c, r]).anomalies;
    expect(anomaly?.ops).toEqual([c.id, r.id]);
    expect(anomaly?.message).toMatch(/absent after acknowledged create/);
  });

  it("refuses a history with duplicate operation IDs", () => {
    const c = created("a", 0, 1);
    expect(() => checkHistory([c, c])).toThrow(/two operations/);
  });
});

/**
 * Brute force (Porcupine/WGL style) for one key: is there an order of the operations that
 * respects real time (a before b when a completed before b was invoked) and the sequential
 * spec (absent → v once; create at absent sets its value and answers created, at v answers
 * exists v; a read answers the state)? Failed creates and failed/unknown reads are left out,
 * unknown creates may take effect or not, replica reads that missed constrain nothing.
 */
function linearizable(ops: readonly Op[]): boolean {
  const required = ops.filter((o) => o.tc !== null && (o.kind === "create" ?
    o.outcome.type === "created" || o.outcome.type === "exists" :
    o.outcome.type === "value" || (o.kind === "lread" && o.outcome.type === "absent")));
  const optional = ops.filter((o) => o.kind === "create" && o.outcome.type === "unknown");
  const search = (state: string | null, req: readonly Op[], opt: readonly Op[]): boolean => {
    if (req.length === 0) return true;
    const blocked = (x: Op) => req.some((y) => y !== x && (y.tc as number) < x.ti);
    for (const x of req) {
      if (blocked(x)) continue;
      let next: string | null = state;
      const o = x.outcome;
      if (x.kind === "create") {
        if (o.type === "created") {
          if (state !== null || o.value !== x.value) continue;
          next = x.value;
        } else if (o.type === "exists") {
          if (state === null || state !== o.value) continue;
        }
      } else if (o.type === "value" ? state !== o.value : state !== null) continue;
      if (search(next, req.filter((y) => y !== x), opt)) return true;
    }
    if (state === null) {
      for (const x of opt) {
        if (blocked(x)) continue;
        if (search(x.value ?? null, req, opt.filter((y) => y !== x))) return true;
      }
    }
    return false;
  };
  return search(null, required, optional);
}

/** A small history from a real execution (value chosen at t*), then maybe one outcome flipped. */
function randomHistory(random: Random): Op[] {
  const count = 2 + randomInt(random, 6);
  const tStar = random.next() * 100;
  const winner = randomInt(random, count + 1); // == count: nothing chosen
  let vstar: string | null = null;
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const ti = random.next() * 100;
    const tc = ti + random.next() * 40;
    const kind = randomInt(random, 3) === 0 ? "lread" : randomInt(random, 4) === 0 ? "rread" : "create";
    const v = `v${i}`;
    if (kind === "create" && i === winner) {
      vstar = v;
      const o = random.next() < 0.3 ? { type: "unknown" } as const : { type: "created", value: v } as const;
      ops.push(op("create", Math.min(ti, tStar - 0.5), o.type === "unknown" ? null : Math.max(tc, tStar + 0.5),
        o, { value: v }));
    } else {
      ops.push(op(kind, ti, tc, { type: "absent" }, kind === "create" ? { value: v } : {}));
    }
  }
  // Outcomes the real execution would give: before t* absent, after it v*.
  const real = ops.map((o): Op => {
    if (vstar !== null && o.kind === "create" && o.value === vstar) return o;
    const after = vstar !== null && (o.tc as number) > tStar && o.ti > tStar - 10;
    const sees = vstar !== null && (o.ti > tStar || (after && random.next() < 0.5));
    if (o.kind === "create") {
      const pick = random.next();
      if (sees) return { ...o, outcome: pick < 0.8 ? { type: "exists", value: vstar as string } : { type: "unknown" } };
      return { ...o, outcome: pick < 0.5 ? { type: "fail" } : { type: "unknown" }, ...(pick >= 0.5 ? { tc: null } : {}) };
    }
    return { ...o, outcome: sees ? { type: "value", value: vstar as string } : { type: "absent" } };
  });
  if (random.next() < 0.5 && real.length > 0) {
    const i = randomInt(random, real.length);
    const o = real[i] as Op;
    const values = [vstar ?? "v0", "v1", "v9"];
    const flips: Outcome[] = o.kind === "create" ?
      [{ type: "created", value: o.value as string }, { type: "exists", value: values[randomInt(random, 3)] as string },
        { type: "fail" }, { type: "unknown" }] :
      [{ type: "absent" }, { type: "value", value: values[randomInt(random, 3)] as string }];
    const outcome = flips[randomInt(random, flips.length)] as Outcome;
    real[i] = { ...o, outcome, tc: o.tc ?? o.ti + 1 };
  }
  return real;
}

describe("write-once checker agrees with a brute-force linearizability search", () => {
  it("on 20,000 random small histories", () => {
    const random = seededRandom(20260127);
    let legal = 0;
    for (let run = 0; run < 20_000; run++) {
      const history = randomHistory(random);
      const want = linearizable(history);
      const got = checkHistory(history);
      if (got.ok !== want) {
        throw new Error(`run ${run}: checker says ${got.ok}, brute force ${want}\n` +
          JSON.stringify(history, null, 1) + "\n" + JSON.stringify(got.anomalies, null, 1));
      }
      if (want) legal++;
    }
    // Both verdicts are well represented.
    expect(legal).toBeGreaterThan(4000);
    expect(legal).toBeLessThan(16_000);
  });
});
