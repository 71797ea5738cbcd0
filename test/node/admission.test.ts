import { afterEach, describe, expect, it, vi } from "vitest";
import {
  admissionOf, FairAdmission, sourceOf, type AdmissionLimits,
} from "../../src/node/roles/admission.js";
import { PaxosKvError } from "../../src/protocol/codes.js";

const LIMITS: AdmissionLimits = {
  operation: "create", maxInFlight: 2, maxQueuedPerSource: 3, maxQueued: 5, maxWaitMs: 1000,
};

/** Lets settled promises' callbacks run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Enters `source` and records, in `order`, when it was admitted or how it was refused. */
function enter(admission: FairAdmission, source: string, name: string, order: string[]) {
  const entered = admission.enter(source);
  const releases: (() => void)[] = [];
  void entered.then((release) => {
    order.push(name);
    releases.push(release);
  }, (err: unknown) => order.push(`${name}:${(err as PaxosKvError).code}`));
  return { release: async () => {
    await flush();
    releases.shift()?.();
    await flush();
  } };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("admission", () => {
  it("admission - runs up to maxInFlight at once, then each freed slot goes to the next one " +
    "waiting", async () => {
    const admission = new FairAdmission(LIMITS);
    const order: string[] = [];
    const a = enter(admission, "s", "a", order);
    enter(admission, "s", "b", order);
    enter(admission, "s", "c", order);
    await flush();
    expect(order).toEqual(["a", "b"]);
    expect([admission.running, admission.queued]).toEqual([2, 1]);
    await a.release();
    expect(order).toEqual(["a", "b", "c"]);
    expect([admission.running, admission.queued]).toEqual([2, 0]);
  });

  it("admission - a client with one create waiting goes before a flood's backlog", async () => {
    const admission = new FairAdmission({ ...LIMITS, maxQueuedPerSource: 10, maxQueued: 20 });
    const order: string[] = [];
    const running = [enter(admission, "flood", "f1", order), enter(admission, "flood", "f2", order)];
    for (let i = 3; i <= 6; i++) enter(admission, "flood", `f${i}`, order);
    enter(admission, "quiet", "q1", order);
    await flush();
    await running[0]?.release();
    // The flood's f3 waited first, so it had the turn; the quiet client's create is next.
    expect(order).toEqual(["f1", "f2", "f3"]);
    await running[1]?.release();
    expect(order).toEqual(["f1", "f2", "f3", "q1"]);
  });

  it("admission - a source's queue and the node's are bounded: the excess is refused at once " +
    "with UNAVAILABLE", async () => {
    const refused: string[] = [];
    const admission = new FairAdmission(LIMITS, (reason) => refused.push(reason));
    const order: string[] = [];
    for (let i = 1; i <= 6; i++) enter(admission, "flood", `f${i}`, order);
    await flush();
    // 2 running, 3 waiting (its own bound), the sixth refused.
    expect(order).toEqual(["f1", "f2", "f6:UNAVAILABLE"]);
    enter(admission, "other", "o1", order);
    enter(admission, "other", "o2", order);
    enter(admission, "other", "o3", order);
    await flush();
    // The node's bound (5 waiting) refuses the other source's third.
    expect(order.slice(3)).toEqual(["o3:UNAVAILABLE"]);
    expect(refused).toEqual(["queue-full", "queue-full"]);
    expect(admission.queued).toBe(5);
  });

  it("admission - a create that waited past maxWaitMs is refused, with no slot freed",
    async () => {
      vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
      let now = 0;
      const refused: string[] = [];
      const admission = new FairAdmission(LIMITS, (reason) => refused.push(reason), () => now);
      const order: string[] = [];
      const running = [enter(admission, "s", "a", order), enter(admission, "s", "b", order)];
      enter(admission, "s", "c", order);
      now = 600;
      enter(admission, "t", "d", order);
      now = 1200;
      vi.advanceTimersByTime(300);
      await flush();
      expect(order).toEqual(["a", "b", "c:UNAVAILABLE"]);
      expect(refused).toEqual(["waited-too-long"]);
      // d waited 600 ms only: it starts when a slot frees.
      await running[0]?.release();
      expect(order).toEqual(["a", "b", "c:UNAVAILABLE", "d"]);
      expect(admission.queued).toBe(0);
    });

  it("admission - a release counts once; close refuses whatever waits", async () => {
    const admission = new FairAdmission(LIMITS);
    const order: string[] = [];
    const a = await admission.enter("s");
    await admission.enter("s");
    a();
    a();
    expect(admission.running).toBe(1);
    await admission.enter("s");
    enter(admission, "s", "waiting", order);
    admission.close();
    await flush();
    expect(order).toEqual(["waiting:UNAVAILABLE"]);
    expect(admission.queued).toBe(0);
  });

  it("admission - the source is the reply subject's inbox prefix (one per connection)", () => {
    expect(sourceOf("_INBOX.Fq2bS3.7")).toBe("_INBOX.Fq2bS3");
    expect(sourceOf("_INBOX.Fq2bS3.8")).toBe(sourceOf("_INBOX.Fq2bS3.7"));
    expect(sourceOf("reply")).toBe("reply");
    expect(sourceOf(undefined)).toBe("");
  });
});

describe("admission - the node's doors", () => {
  it("admission - a create waits at most PAXOSKV_CREATE_QUEUE_WAIT_MS, a get miss at most " +
    "PAXOSKV_GET_QUEUE_WAIT_MS", async () => {
    const refused: string[] = [];
    const metrics = { admissionRefused: { inc: (l: { op: string; reason: string }) =>
      refused.push(`${l.op}:${l.reason}`) } };
    const config = { maxInFlight: 1, createQueueWaitMs: 30, getQueueWaitMs: 90 };
    const doors = { create: admissionOf("create", config, metrics as never),
      get: admissionOf("get", config, metrics as never) };
    const waited = await Promise.all(Object.values(doors).map(async (door) => {
      await door.enter("s"); // runs, never released
      const started = performance.now();
      const err = await door.enter("s").then(() => null, (e: unknown) => e as PaxosKvError);
      return { ms: performance.now() - started, message: err?.message };
    }));
    expect(waited[0]?.message).toMatch(/the create waited over 30 ms/);
    expect(waited[1]?.message).toMatch(/the get waited over 90 ms/);
    expect(waited[0]?.ms).toBeLessThan(90);
    expect(refused).toEqual(["create:waited-too-long", "get:waited-too-long"]);
  });
});
