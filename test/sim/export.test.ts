/**
 * `npm run sim -- --seed N --export trace.json`: a simulated run in the live trace format,
 * for the web page's replay. Recording must not change the run.
 */
import { describe, expect, it } from "vitest";
import type { TraceEvent } from "../../src/protocol/trace.js";
import { exportSeed, runSeed } from "./run-seeds.js";

describe("sim export - a run as trace events", () => {
  it.each([6, 42, 3])("seed %i: the same run as without recording, and deterministic", (seed) => {
    const events: TraceEvent[] = [];
    const recorded = runSeed(seed, null, undefined, (e) => events.push(e));
    expect(recorded).toEqual(runSeed(seed));
    expect(exportSeed(seed).events).toEqual(events);
    expect(events.length).toBeGreaterThan(10);
  });

  it("sim export - every proposal reads as the seed draws it: request, Prepare, ..., reply", () => {
    const run = exportSeed(42);
    expect(run).toMatchObject({ format: "paxoskv-trace/1", source: "sim", seed: 42, unit: "tick",
      violation: null, acceptors: ["A", "B", "C"] });
    const byTrace = Map.groupBy(run.events.filter((e) => e.kind !== "fault"), (e) => e.traceId);
    for (const [traceId, events] of byTrace) {
      const kinds = events.map((e) => e.kind);
      expect(kinds[0], traceId).toBe("request");
      expect(kinds[1], traceId).toBe("prepare");
      const last = kinds.at(-1);
      // A proposal ends with its reply, or is cut short by its proposer's crash.
      if (last === "reply") expect(["chosen", "gave-up"]).toContain(kinds.at(-2));
      for (const e of events) {
        if (e.kind === "prepare" || e.kind === "accept") expect(e.to).toEqual(run.acceptors);
        if (e.kind === "promise" || e.kind === "accepted" || e.kind === "nack") {
          expect(run.acceptors).toContain(e.from);
        }
      }
    }
    for (let i = 1; i < run.events.length; i++) {
      expect((run.events[i] as TraceEvent).t).toBeGreaterThanOrEqual((run.events[i - 1] as TraceEvent).t);
    }
    // Every key ends with one chosen value, reported to the clients.
    const chosen = new Map<string, Set<string>>();
    for (const e of run.events) {
      if (e.kind === "chosen") chosen.set(e.key, (chosen.get(e.key) ?? new Set()).add(e.value ?? ""));
    }
    expect(chosen.size).toBeGreaterThan(0);
    for (const values of chosen.values()) expect(values.size).toBe(1);
  });

  it("sim export - faults are in it: crashes and lost messages", () => {
    const faults = exportSeed(6).events.filter((e) => e.kind === "fault");
    expect(faults.some((e) => /^crash [A-C]/.test(e.outcome ?? ""))).toBe(true);
    expect(faults.some((e) => /^lost /.test(e.outcome ?? "") && e.to.length === 1)).toBe(true);
  });

  it("sim export - a planted bug's violation is in the file", () => {
    const run = exportSeed(1, "quorum-of-one");
    expect(run.violation).not.toBeNull();
    expect(run.bug).toBe("quorum-of-one");
  });
});
