/**
 * The live trace of one create, as `paxoskv trace` and the web page receive it: the client's
 * request, Prepare to A, B, C, a majority of Promises, Accept, a majority of Accepted, chosen,
 * the reply; and right after it, a fast round: Accept at the fast ballot, Accepted from all
 * three, chosen. Node A is the only proposer (B and C are acceptors only), so every create is
 * A's, and A starts classic after a quiet spell (FAST_RECENT_MS), fast while its traffic shows
 * every acceptor alive.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { FAST_RECENT_MS } from "../../src/node/roles/proposer-driver.js";
import { formatTraceEvent, traceSubject, type TraceEvent } from "../../src/protocol/trace.js";
import { enableTracing } from "../../src/ui/trace-feed.js";
import { poll } from "./support/cluster-tools.js";
import { cleanup, freePort } from "./support/servers.js";

let cluster: LocalCluster;
let nc: NatsConnection;
let client: PaxosKvClient;
let httpPort = 0;

beforeAll(async () => {
  cluster = await startLocalCluster({ logLevel: "warn" });
  httpPort = await freePort();
  await Promise.all([
    cluster.spawnNode("A", "proposer,acceptor,learner", { PAXOSKV_HTTP_PORT: String(httpPort) }),
    cluster.spawnNode("B", "acceptor"),
    cluster.spawnNode("C", "acceptor"),
  ]);
  nc = await connect({ servers: cluster.natsUrl });
  client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 10_000 });
});

afterAll(async () => {
  await client?.close();
  await nc?.drain();
  await cluster?.stopNodes();
  await cleanup();
});

/** Long enough without Paxos traffic that node A's next create starts with a classic round. */
const quiet = () => new Promise((resolve) => setTimeout(resolve, FAST_RECENT_MS + 100));

/** Collects the trace events of `key` while `run` runs, until the reply to the client. */
async function traceOf(key: string, run: () => Promise<unknown>): Promise<TraceEvent[]> {
  const events: TraceEvent[] = [];
  const sub = nc.subscribe(traceSubject(cluster.prefix, key), {
    callback: (_err, msg) => void events.push(msg.json<TraceEvent>()),
  });
  await nc.flush();
  await run();
  await poll("the reply's trace event", async () =>
    events.some((e) => e.kind === "reply") ? true : undefined, { timeoutMs: 5000 });
  sub.unsubscribe();
  return events;
}

describe("trace - one create, message by message", () => {
  it("trace - is off until a tracer asks for the key", async () => {
    const events = await (async () => {
      const seen: TraceEvent[] = [];
      const sub = nc.subscribe(traceSubject(cluster.prefix, "quiet.>"), {
        callback: (_err, msg) => void seen.push(msg.json<TraceEvent>()),
      });
      await client.create("quiet.X", "1");
      await nc.flush();
      sub.unsubscribe();
      return seen;
    })();
    expect(events).toEqual([]);
  });

  it("trace - request → Prepare → Promise → Accept → Accepted → chosen → reply", async () => {
    // Every node acknowledges the control message, so the create below is traced.
    expect(await enableTracing(nc, cluster.prefix, "trace.>")).toContain("A");
    await quiet();
    const events = await traceOf("trace.X", () => client.create("trace.X", "3"));
    const kinds = events.map((e) => e.kind);
    const first = (kind: TraceEvent["kind"]) => kinds.indexOf(kind);
    const order = ["request", "prepare", "promise", "accept", "accepted", "chosen", "reply"]
      .map((k) => first(k as TraceEvent["kind"]));
    expect(order.every((i) => i >= 0), kinds.join(" ")).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // Accept leaves only after a majority (2 of 3) promised; chosen after 2 accepted.
    expect(kinds.slice(0, first("accept")).filter((k) => k === "promise").length)
      .toBeGreaterThanOrEqual(2);
    expect(kinds.slice(0, first("chosen")).filter((k) => k === "accepted").length)
      .toBeGreaterThanOrEqual(2);
    expect(kinds).not.toContain("nack");

    const one = (kind: TraceEvent["kind"]) => events[first(kind)] as TraceEvent;
    expect(new Set(events.map((e) => e.traceId)).size).toBe(1);
    expect(one("request")).toMatchObject({ key: "trace.X", from: expect.stringMatching(/^client-/),
      to: ["A"], value: "3" });
    expect(one("prepare")).toMatchObject({ from: "A", to: ["A", "B", "C"] });
    expect(one("prepare").value).toBeUndefined(); // Prepare(n) carries the ID only
    const n = one("prepare").ballot;
    expect(n).toMatch(/^\d+\.A$/);
    expect(one("promise")).toMatchObject({ to: ["A"], ballot: n, accepted: null });
    expect(one("accept")).toMatchObject({ from: "A", to: ["A", "B", "C"], ballot: n, value: "3" });
    expect(one("accepted")).toMatchObject({ to: ["A"], ballot: n });
    expect(one("chosen")).toMatchObject({ from: "A", ballot: n, value: "3" });
    expect(one("chosen").to.length).toBeGreaterThanOrEqual(2);
    // The reply's outcome is typed fields, not text to parse back.
    expect(one("reply")).toMatchObject({ from: "A", to: [one("request").from], value: "3",
      created: true });
    expect(one("reply").outcome).toBeUndefined();
    for (let i = 1; i < events.length; i++) {
      expect((events[i] as TraceEvent).t).toBeGreaterThanOrEqual((events[i - 1] as TraceEvent).t);
    }

    const lines = events.map((e) => formatTraceEvent(e, e.t - (events[0] as TraceEvent).t));
    expect(lines[first("prepare")]).toMatch(/A → A,B,C\s+Prepare n=\(\d+, A\)$/);
    expect(lines[first("promise")]).toMatch(/→ A\s+Promise n=\(\d+, A\) accepted=empty$/);
    expect(lines[first("accept")]).toMatch(/A → A,B,C\s+Accept \[n=\(\d+, A\), 3\]$/);
    expect(lines[first("chosen")]).toMatch(/chosen trace\.X=3 by [ABC],[ABC]/);
    expect(lines[first("reply")]).toMatch(/A → client-\w+\s+reply trace\.X=3 created=true$/);
  });

  it("trace - right after: request → Accept at the fast ballot → Accepted ×3 → chosen → reply",
    async () => {
      expect(await enableTracing(nc, cluster.prefix, "trace.>")).toContain("A");
      await client.create("trace.warm", "1"); // A hears every acceptor just now
      const events = await traceOf("trace.F", () => client.create("trace.F", "5"));
      const kinds = events.map((e) => e.kind);
      expect(kinds).not.toContain("prepare");
      expect(kinds).not.toContain("promise");
      const accept = events.find((e) => e.kind === "accept");
      expect(accept).toMatchObject({ from: "A", to: ["A", "B", "C"], ballot: "0.fast", value: "5" });
      const chosen = kinds.indexOf("chosen");
      expect(kinds.slice(0, chosen).filter((k) => k === "accepted")).toHaveLength(3);
      expect(events[chosen]).toMatchObject({ ballot: "0.fast", value: "5" });
      expect([...events[chosen]?.to ?? []].sort()).toEqual(["A", "B", "C"]);
      expect(kinds.at(-1)).toBe("reply");
    });

  it("trace - the web page's feed (/api/trace, Server-Sent Events) carries the same", async () => {
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/trace?pattern=${
      encodeURIComponent("sse.>")}`, { signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    const until = async (what: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!what.test(text)) {
        if (Date.now() > deadline) throw new Error(`no ${String(what)} in the feed:\n${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`the feed ended:\n${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    try {
      // The node switched tracing on at every node before it says ready.
      await until(/event: ready\ndata: \{"pattern":"sse\.>","nodes":\[[^\]]*"A"/);
      await quiet();
      await client.create("sse.Y", "7");
      await until(/"kind":"reply"/);
      const events = [...text.matchAll(/event: trace\ndata: (.*)\n\n/g)]
        .map((m) => JSON.parse(m[1] as string) as TraceEvent);
      expect(events.map((e) => e.kind)).toEqual(["request", "prepare", ...events.slice(2, -2)
        .map((e) => e.kind), "chosen", "reply"]);
      expect(events.every((e) => e.key === "sse.Y")).toBe(true);
    } finally {
      abort.abort();
      await reader.cancel().catch(() => undefined);
    }
  });

  it("trace - a bad pattern is refused", async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/trace?pattern=${
      encodeURIComponent("a.>.b")}`);
    expect(res.status).toBe(400);
  });
});
