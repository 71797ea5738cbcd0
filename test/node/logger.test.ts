import { describe, expect, it } from "vitest";
import { ballot } from "../../src/core/ballot.js";
import {
  createLogger, formatDuration, Ongoing, REPEAT_LOG_INTERVAL_MS,
} from "../../src/node/infrastructure/logger.js";
import { retryWhileStarting } from "../../src/node/infrastructure/start-retry.js";

/** A logger writing into an array of parsed lines. */
function capture(level = "info") {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("A", level, {
    write: (text: string) => { lines.push(JSON.parse(text) as Record<string, unknown>); },
  });
  return { log, lines };
}

const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6379"),
  { code: "ECONNREFUSED" });

describe("logger - lines for people and machines", () => {
  it("logger - level names and ISO times, with node, role, key and ballot", () => {
    const { log, lines } = capture();
    log.child({ role: "proposer" }).info({ key: "k", ballot: ballot(5, "A") }, "chosen");
    expect(lines).toEqual([{ level: "info", time: expect.stringMatching(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), node: "A", role: "proposer", key: "k",
    ballot: "5.A", msg: "chosen" }]);
    expect(Math.abs(Date.parse(lines[0]?.time as string) - Date.now())).toBeLessThan(5000);
  });

  it("logger - below error an err is its type, message, code and cause, without a stack", () => {
    const { log, lines } = capture();
    const err = new Error("redis PING failed: connect ECONNREFUSED", { cause: refused() });
    log.warn({ err, code: "UNAVAILABLE" }, "waiting for the acceptor Redis");
    log.info({ err: refused() }, "noted");
    expect(lines[0]).toMatchObject({ level: "warn", code: "UNAVAILABLE",
      err: { type: "Error", message: "redis PING failed: connect ECONNREFUSED",
        cause: "connect ECONNREFUSED 127.0.0.1:6379" } });
    expect(lines[1]).toMatchObject({ err: { type: "Error", code: "ECONNREFUSED" } });
    expect(JSON.stringify(lines)).not.toMatch(/stack| {4}at /);
  });

  it("logger - error and fatal keep the stack: they are about a bug", () => {
    const { log, lines } = capture();
    log.error({ err: new TypeError("x is undefined") }, "request failed");
    log.fatal({ err: new Error("assertion failed") }, "uncaught exception: stopping");
    expect(lines.map((l) => l.level)).toEqual(["error", "fatal"]);
    for (const line of lines) {
      expect((line.err as { stack?: string }).stack).toMatch(/\n {4}at /);
    }
  });

  it.each([
    [0, "0 ms"], [850, "850 ms"], [1000, "1 s"], [59_999, "59 s"], [60_000, "1 min"],
    [200_000, "3 min 20 s"], [3_600_000, "1 h"], [7_500_000, "2 h 5 min"],
  ])("logger - formatDuration(%d) is %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("logger - Ongoing: a condition that lasts", () => {
  it("logger - the first failure at once, then one line per interval saying how long and " +
    "how many; the end once, at info, with the duration", () => {
    const { log, lines } = capture();
    let now = 1_000_000;
    const down = new Ongoing(log, REPEAT_LOG_INTERVAL_MS, () => now);
    // A Redis down for 75 s, failing every second (ioredis' reconnects).
    for (let s = 0; s <= 75; s++) {
      now = 1_000_000 + s * 1000;
      down.failed({ err: refused(), code: "UNAVAILABLE" }, "acceptor Redis unreachable");
    }
    now += 500;
    down.ended({}, "acceptor Redis reachable again");
    down.ended({}, "acceptor Redis reachable again"); // once only
    expect(lines.map((l) => [l.level, l.msg, l.forMs, l.failures])).toEqual([
      ["warn", "acceptor Redis unreachable", 0, 1],
      ["warn", "acceptor Redis unreachable (for 30 s, 30 failures since the last line)",
        30_000, 30],
      ["warn", "acceptor Redis unreachable (for 1 min, 30 failures since the last line)",
        60_000, 30],
      ["info", "acceptor Redis reachable again after 1 min 15 s", 75_500, undefined],
    ]);
    expect(lines[1]?.since).toBe(new Date(1_000_000).toISOString());
    expect(JSON.stringify(lines)).not.toContain("stack");
    // A new outage starts afresh.
    now += 10_000;
    down.failed({}, "acceptor Redis unreachable");
    expect(lines.at(-1)).toMatchObject({ msg: "acceptor Redis unreachable", forMs: 0 });
  });

  it("logger - an end without a logged failure says nothing", () => {
    const { log, lines } = capture();
    new Ongoing(log, 1000).ended({}, "fine again");
    expect(lines).toEqual([]);
  });
});

describe("start-retry - says when the wait is over", () => {
  it("start-retry - onReady hears how long it waited, and only after a wait", async () => {
    const waited: number[] = [];
    let calls = 0;
    const options = { waitMs: 5000, maxPauseMs: 100, onWait: () => undefined,
      onReady: (ms: number) => waited.push(ms) };
    expect(await retryWhileStarting(options, async () => {
      if (++calls < 3) throw refused();
      return "open";
    })).toBe("open");
    expect(waited).toHaveLength(1);
    expect(waited[0]).toBeGreaterThanOrEqual(190); // two pauses of 100 ms
    await retryWhileStarting(options, async () => "open at once");
    expect(waited).toHaveLength(1);
  });
});
