/** PAXOSKV_ACCEPTOR_REDIS: the acceptors' Redis for direct quorum reads, validated at start. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/node/infrastructure/config.js";
import { proposerConfigOf } from "../../src/node/roles/start-proposer.js";

describe("config - PAXOSKV_ACCEPTOR_REDIS", () => {
  it("config - unset or empty: reads over NATS", () => {
    expect(loadConfig({}).acceptorRedis).toBeUndefined();
    expect(loadConfig({ PAXOSKV_ACCEPTOR_REDIS: "" }).acceptorRedis).toBeUndefined();
  });

  it("config - one URL per acceptor", () => {
    const urls = "A=redis://a:6379, B=rediss://:pw@b:6380/1,C=redis://c";
    expect(loadConfig({ PAXOSKV_ACCEPTOR_REDIS: urls }).acceptorRedis).toEqual(new Map([
      ["A", "redis://a:6379"], ["B", "rediss://:pw@b:6380/1"], ["C", "redis://c"]]));
  });

  it.each([
    ["an entry without =", "A=redis://a,B=redis://b,Credis://c", /"Credis:\/\/c" is not ID=redis/],
    ["a URL of another scheme", "A=redis://a,B=http://b,C=redis://c", /URL of B must start/],
    ["a URL that does not parse", "A=redis://a,B=redis://b:63 79,C=redis://c",
      /URL of B is not a valid URL/],
    ["an ID named twice", "A=redis://a,A=redis://b,C=redis://c", /A is named twice/],
    ["an acceptor left out", "A=redis://a,B=redis://b", /no URL for acceptor C/],
    ["an ID that is no acceptor", "A=redis://a,B=redis://b,C=redis://c,D=redis://d",
      /D not in PAXOSKV_ACCEPTORS/],
  ])("config - refuses %s, naming the variable", (_, value, message) => {
    expect(() => loadConfig({ PAXOSKV_ACCEPTOR_REDIS: value }))
      .toThrow(/PAXOSKV_ACCEPTOR_REDIS: /);
    expect(() => loadConfig({ PAXOSKV_ACCEPTOR_REDIS: value })).toThrow(message);
  });

  it("config - a refused URL is not printed (it may carry a password)", () => {
    const env = { PAXOSKV_ACCEPTOR_REDIS: "A=redis://a,B=http://:secret@b,C=redis://c" };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).not.toThrow(/secret/);
  });
});

describe("config - the learner's replica", () => {
  it("config - PAXOSKV_DATA_DIR defaults to ./data/<node-id>, made absolute", () => {
    expect(loadConfig({ PAXOSKV_NODE_ID: "B" }).dataDir).toBe(`${process.cwd()}/data/B`);
    expect(loadConfig({ PAXOSKV_DATA_DIR: "/var/lib/paxoskv" }).dataDir)
      .toBe("/var/lib/paxoskv");
    expect(() => loadConfig({ PAXOSKV_DATA_DIR: "" })).toThrow(/PAXOSKV_DATA_DIR: must name/);
  });

  it.each(["orders.>", ">", "*.eu", "orders.*.x", "a=b:c"])(
    "config - PAXOSKV_REPLICA_KEYS %s is a filter", (filter) => {
      expect(loadConfig({ PAXOSKV_REPLICA_KEYS: filter }).replicaKeys).toBe(filter);
    });

  it.each(["", "orders.>.x", "orders..x", "or ders", "a.>>"])(
    "config - PAXOSKV_REPLICA_KEYS %j is refused with a clear error", (filter) => {
      expect(() => loadConfig({ PAXOSKV_REPLICA_KEYS: filter }))
        .toThrow(/PAXOSKV_REPLICA_KEYS: not a subject filter over keys/);
    });
});

describe("config - the proposer's limits", () => {
  it("config - back-off and rounds default as before and can be set, with units in the names", () => {
    const defaults = loadConfig({ PAXOSKV_REQUEST_TIMEOUT_MS: "4000" });
    expect(defaults).toMatchObject({ phaseTimeoutMs: 1000, backoffBaseMs: 5, backoffMaxMs: 500,
      roundsMax: 1000 });
    expect(loadConfig({ PAXOSKV_BACKOFF_BASE_MS: "20", PAXOSKV_BACKOFF_MAX_MS: "300",
      PAXOSKV_ROUNDS_MAX: "7" })).toMatchObject({ backoffBaseMs: 20, backoffMaxMs: 300,
      roundsMax: 7 });
    expect(() => loadConfig({ PAXOSKV_ROUNDS_MAX: "0" })).toThrow(/PAXOSKV_ROUNDS_MAX/);
    expect(() => loadConfig({ PAXOSKV_BACKOFF_BASE_MS: "fast" })).toThrow(/PAXOSKV_BACKOFF_BASE_MS/);
  });

  it("config - the deadline's margin, the fast round's timing and the queue waits default to " +
    "the values once hard-coded in node.ts and the driver, and can be set", () => {
    expect(loadConfig({ PAXOSKV_REQUEST_TIMEOUT_MS: "4000" })).toMatchObject({
      proposalDeadlineMs: 3900, fastRecentMs: 200, fastPauseMs: 1000, createQueueWaitMs: 500,
      getQueueWaitMs: 2000 });
    // A short request timeout leaves the proposal its floor, not nothing.
    expect(loadConfig({ PAXOSKV_REQUEST_TIMEOUT_MS: "100" }).proposalDeadlineMs).toBe(50);
    expect(loadConfig({
      PAXOSKV_REQUEST_TIMEOUT_MS: "10000", PAXOSKV_REPLY_MARGIN_MS: "700",
      PAXOSKV_FAST_RECENT_MS: "50", PAXOSKV_FAST_PAUSE_MS: "0",
      PAXOSKV_CREATE_QUEUE_WAIT_MS: "250", PAXOSKV_GET_QUEUE_WAIT_MS: "900",
    })).toMatchObject({ proposalDeadlineMs: 9300, fastRecentMs: 50, fastPauseMs: 0,
      createQueueWaitMs: 250, getQueueWaitMs: 900 });
    expect(() => loadConfig({ PAXOSKV_FAST_RECENT_MS: "0" })).toThrow(/PAXOSKV_FAST_RECENT_MS/);
    expect(() => loadConfig({ PAXOSKV_REPLY_MARGIN_MS: "-1" })).toThrow(/PAXOSKV_REPLY_MARGIN_MS/);
    expect(() => loadConfig({ PAXOSKV_CREATE_QUEUE_WAIT_MS: "soon" }))
      .toThrow(/PAXOSKV_CREATE_QUEUE_WAIT_MS/);
  });

  it("config - the proposer is driven with the configured deadline and fast-round timing", () => {
    const config = loadConfig({ PAXOSKV_NODE_ID: "B", PAXOSKV_REQUEST_TIMEOUT_MS: "6000",
      PAXOSKV_REPLY_MARGIN_MS: "250", PAXOSKV_FAST_RECENT_MS: "300",
      PAXOSKV_FAST_PAUSE_MS: "4000" });
    expect(proposerConfigOf(config)).toEqual({
      nodeId: "B", acceptors: ["A", "B", "C"], phaseTimeoutTicks: 1000, backoffBaseTicks: 5,
      backoffMaxTicks: 500, deadlineTicks: 5750, roundCountMax: 1000, fastRecentMs: 300,
      fastPauseMs: 4000,
    });
  });
});

describe("config - PAXOSKV_REDIS_URL", () => {
  it("config - one URL, or several seed nodes of a Redis Cluster", () => {
    expect(loadConfig({}).redisUrls).toEqual(["redis://127.0.0.1:6379"]);
    expect(loadConfig({ PAXOSKV_REDIS_URL: "redis://a:7000, redis://b:7001,rediss://:pw@c:7002" })
      .redisUrls).toEqual(["redis://a:7000", "redis://b:7001", "rediss://:pw@c:7002"]);
  });

  it.each([
    ["a seed of another scheme", "redis://a:7000,http://b:7001", /must start with redis:\/\//],
    ["a seed that does not parse", "redis://a:7000,redis://b:70 01", /not a valid URL/],
    ["nothing", ",", /name a Redis/],
  ])("config - refuses %s, naming the variable", (_, value, message) => {
    expect(() => loadConfig({ PAXOSKV_REDIS_URL: value })).toThrow(/PAXOSKV_REDIS_URL/);
    expect(() => loadConfig({ PAXOSKV_REDIS_URL: value })).toThrow(message);
  });
});
