/**
 * The client's `retries`: on a real nats-server, the test answers `paxoskv.create.*` and
 * `paxoskv.get.*` itself with scripted replies, and counts the attempts that reach it.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { ErrorCode, PaxosKvError } from "../../src/protocol/codes.js";
import { errorReply } from "../../src/protocol/replies.js";
import { cleanup, startNats } from "./support/servers.js";

let nc: NatsConnection;
let responder: NatsConnection;

beforeAll(async () => {
  const nats = await startNats({ jetstream: false });
  nc = await connect({ servers: nats.url });
  responder = await connect({ servers: nats.url });
});

afterAll(async () => {
  await Promise.allSettled([nc.close(), responder.close()]);
  await cleanup();
});

/** Answers requests on `subject` with `script` in order (the last one from then on). */
async function serveScript(subject: string, script: readonly unknown[]): Promise<{
  seen: () => number; stop: () => void;
}> {
  let seen = 0;
  const sub = responder.subscribe(subject, {
    callback: (_err, msg) => {
      const reply = script[Math.min(seen, script.length - 1)];
      seen++;
      msg.respond(JSON.stringify(reply));
    },
  });
  await responder.flush();
  return { seen: () => seen, stop: () => sub.unsubscribe() };
}

const created = (key: string, value: string) => ({ ok: true, key, value, created: true });
const unavailable = errorReply(ErrorCode.UNAVAILABLE, "this node is overloaded");
const timeout = errorReply(ErrorCode.TIMEOUT, "outcome unknown");

it("client retry - a create that ended UNAVAILABLE, then TIMEOUT, is repeated and succeeds",
  async () => {
    const script = await serveScript("paxoskv.create.r1",
      [unavailable, timeout, created("r1", "v")]);
    const client = new PaxosKvClient(nc, { retries: 2, retryBackoffMs: 5 });
    expect(await client.create("r1", "v")).toEqual({ key: "r1", value: "v", created: true });
    expect(script.seen()).toBe(3);
    script.stop();
  });

it("client retry - after `retries` repeats the last error is thrown", async () => {
  const script = await serveScript("paxoskv.create.r2", [unavailable, timeout, timeout]);
  const client = new PaxosKvClient(nc, { retries: 1, retryBackoffMs: 5 });
  const err = await client.create("r2", "v").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(PaxosKvError);
  expect((err as PaxosKvError).code).toBe("TIMEOUT");
  expect(script.seen()).toBe(2);
  script.stop();
});

it("client retry - other errors are not repeated, and by default nothing is", async () => {
  const tooLarge = await serveScript("paxoskv.create.r3",
    [errorReply(ErrorCode.VALUE_TOO_LARGE, "too large"), created("r3", "v")]);
  const retrying = new PaxosKvClient(nc, { retries: 3, retryBackoffMs: 5 });
  await expect(retrying.create("r3", "v")).rejects.toMatchObject({ code: "VALUE_TOO_LARGE" });
  expect(tooLarge.seen()).toBe(1);
  tooLarge.stop();

  const once = await serveScript("paxoskv.create.r4", [unavailable, created("r4", "v")]);
  await expect(new PaxosKvClient(nc).create("r4", "v")).rejects.toMatchObject({ code: "UNAVAILABLE" });
  expect(once.seen()).toBe(1);
  once.stop();
});

it("client retry - a get is repeated too; no responders counts as UNAVAILABLE", async () => {
  const script = await serveScript("paxoskv.get.r5",
    [unavailable, { ok: true, key: "r5", found: true, value: "v" }]);
  const client = new PaxosKvClient(nc, { retries: 1, retryBackoffMs: 5 });
  expect(await client.get("r5")).toEqual({ key: "r5", found: true, value: "v" });
  expect(script.seen()).toBe(2);
  script.stop();
  // Nobody serves r6: every attempt fails at once, with the backoff between them.
  const start = performance.now();
  await expect(new PaxosKvClient(nc, { retries: 2, retryBackoffMs: 40 }).get("r6"))
    .rejects.toMatchObject({ code: "UNAVAILABLE" });
  // Waits of 40 and 80 ms, each at least half of it with the jitter.
  expect(performance.now() - start).toBeGreaterThanOrEqual(60);
});

it("client retry - a negative or fractional count is refused", () => {
  expect(() => new PaxosKvClient(nc, { retries: -1 })).toThrow(/retries/);
  expect(() => new PaxosKvClient(nc, { retries: 1.5 })).toThrow(/retries/);
});
