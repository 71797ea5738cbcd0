/**
 * Errors that tell the truth (issue 17, item 7): the client answers TIMEOUT ("outcome
 * unknown", retried) only for a request that may have reached a node. A request that
 * certainly did not leave (over NATS' max_payload, refused by NATS permissions, on a closed
 * connection) is a certain failure with its own code and is not retried; a refused login
 * names the user, and the CLI says which variables to set, without a stack trace.
 *
 * A real nats-server with users of different permissions; a plain subscriber stands in for
 * the nodes and counts what reached it.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient, requestFailure } from "../../src/client/client.js";
import { cleanup, startNats, type ServerHandle } from "./support/servers.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

const USERS = {
  full: { user: "full", password: "full-secret" },
  /** May publish gets only. */
  getOnly: { user: "getonly", password: "g-secret" },
  /** May publish anything but not subscribe to its reply inbox. */
  noInbox: { user: "noinbox", password: "n-secret" },
};
const CONFIG = `authorization { users = [
  { user: full, password: full-secret }
  { user: getonly, password: g-secret,
    permissions: { publish: ["paxoskv.get.>"], subscribe: ["_INBOX.>"] } }
  { user: noinbox, password: n-secret, permissions: { publish: [">"], subscribe: ["none"] } }
] }`;

/** Long enough that a retry would show in the time a request takes. */
const BACKOFF_MS = 3000;

let nats: ServerHandle;
let listener: NatsConnection;
/** Create requests that reached the stand-in node. */
let reached: string[] = [];
const opened: PaxosKvClient[] = [];

beforeAll(async () => {
  nats = await startNats({ config: CONFIG });
  listener = await connect({ servers: nats.url, ...{ user: "full", pass: "full-secret" } });
  // Stands in for a node that never answers in time: what reaches it is counted.
  listener.subscribe("paxoskv.create.>", { callback: (_err, msg) => {
    reached.push(msg.subject);
  } });
  await listener.flush();
});

afterAll(async () => {
  await Promise.allSettled(opened.map((c) => c.close()));
  await listener?.close();
  await cleanup();
});

async function client(who: { user: string; password: string }, retries = 3):
  Promise<PaxosKvClient> {
  const c = await PaxosKvClient.connect({ servers: nats.url, ...who, retries,
    retryBackoffMs: BACKOFF_MS, timeoutMs: 500 });
  opened.push(c);
  return c;
}

/** The error `run` rejects with, and how long it took. */
async function failure(run: () => Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const start = performance.now();
  try {
    await run();
  } catch (err) {
    return { err, ms: performance.now() - start };
  }
  throw new Error("expected a rejection");
}

describe("client errors - certain failures are not TIMEOUT", () => {
  it("client errors - a value over NATS' max_payload is VALUE_TOO_LARGE at once, sent " +
    "nowhere, not retried", async () => {
    reached = [];
    const c = await client(USERS.full);
    const maxPayload = c.nc.info?.max_payload ?? 0;
    expect(maxPayload).toBe(1024 * 1024);
    for (const value of ["x".repeat(1_100_000), new Uint8Array(maxPayload + 1)]) {
      const { err, ms } = await failure(() => c.create("errors.big", value));
      expect(err).toMatchObject({ code: "VALUE_TOO_LARGE",
        message: expect.stringMatching(/max_payload.*nothing was sent/) });
      expect(ms).toBeLessThan(BACKOFF_MS / 2);
    }
    // Exactly max_payload leaves (and, unanswered, is of unknown outcome).
    const { err } = await failure(() => client(USERS.full, 0).then((d) =>
      d.create("errors.edge", new Uint8Array(maxPayload).fill(0x61))));
    expect(err).toMatchObject({ code: "TIMEOUT" });
    await listener.flush();
    expect(reached).toEqual(["paxoskv.create.errors.edge"]);
  });

  it("client errors - NATS' own refusal of a payload (InvalidArgumentError) maps to " +
    "VALUE_TOO_LARGE, never TIMEOUT", () => {
    let refusal: unknown;
    try {
      listener.publish("paxoskv.create.errors.raw", new Uint8Array(2 * 1024 * 1024));
    } catch (err) {
      refusal = err;
    }
    expect(String(refusal)).toMatch(/max_payload/);
    expect(requestFailure("create", refusal)).toMatchObject({ code: "VALUE_TOO_LARGE" });
  });

  it("client errors - a create NATS does not let this user publish is UNAVAILABLE (not " +
    "sent), not retried", async () => {
    reached = [];
    const c = await client(USERS.getOnly);
    const { err, ms } = await failure(() => c.create("errors.perm", "v"));
    expect(err).toMatchObject({ code: "UNAVAILABLE", message:
      "NATS does not allow this user to publish to paxoskv.create.errors.perm (its " +
      "permissions): the create was not sent" });
    expect(ms).toBeLessThan(BACKOFF_MS / 2);
    await listener.flush();
    expect(reached).toEqual([]);
  });

  it("client errors - a refused reply inbox: the create did leave, so TIMEOUT (unknown), " +
    "but not retried; a get is UNAVAILABLE", async () => {
    reached = [];
    const c = await client(USERS.noInbox);
    const created = await failure(() => c.create("errors.inbox", "v"));
    expect(created.err).toMatchObject({ code: "TIMEOUT", message: expect.stringMatching(
      /not allow this user to subscribe to _INBOX\..*the create was sent and its outcome is unknown/) });
    expect(created.ms).toBeLessThan(BACKOFF_MS / 2);
    await listener.flush();
    expect(reached).toEqual(["paxoskv.create.errors.inbox"]);
    const got = await failure(() => c.get("errors.inbox"));
    expect(got.err).toMatchObject({ code: "UNAVAILABLE" });
    expect(got.ms).toBeLessThan(BACKOFF_MS / 2);
  });

  it("client errors - a request on a closed connection is UNAVAILABLE (not sent), not retried",
    async () => {
      const c = await client(USERS.full);
      await c.close();
      const { err, ms } = await failure(() => c.create("errors.closed", "v"));
      expect(err).toMatchObject({ code: "UNAVAILABLE",
        message: "the create was not sent: the NATS connection is closed" });
      expect(ms).toBeLessThan(BACKOFF_MS / 2);
    });

  it("client errors - a watch NATS does not let this user subscribe to ends with " +
    "UNAVAILABLE naming the subject (it was an unhandled rejection)", async () => {
    const c = await client(USERS.getOnly);
    const { err, ms } = await failure(async () => {
      for await (const event of c.watch("orders")) throw new Error(`got ${event.key}`);
    });
    expect(err).toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(
      /^NATS does not allow this user to subscribe to paxoskv\.chosen\.orders(\.>)? \(its permissions\): cannot watch$/) });
    expect(ms).toBeLessThan(BACKOFF_MS / 2);
  });

  it("client errors - a create that left and got no reply is still TIMEOUT, and retried",
    async () => {
      reached = [];
      const c = await client(USERS.full, 1);
      const { err } = await failure(() => c.create("errors.slow", "v"));
      expect(err).toMatchObject({ code: "TIMEOUT" });
      await listener.flush();
      expect(reached).toEqual(["paxoskv.create.errors.slow", "paxoskv.create.errors.slow"]);
    });
});

describe("client errors - connecting", () => {
  it.each([
    ["a wrong password", { user: "full", password: "nope" },
      `NATS at ${"URL"} refused user "full" (Authorization Violation): wrong user or password`],
    ["no user", {},
      `NATS at ${"URL"} refused a connection without a user (Authorization Violation): ` +
      "wrong user or password"],
  ])("client errors - %s is UNAVAILABLE naming the user", async (_, who, message) => {
    await expect(PaxosKvClient.connect({ servers: nats.url, ...who })).rejects.toMatchObject(
      { code: "UNAVAILABLE", message: message.replace("URL", nats.url) });
  });

  it("client errors - an unreachable server is UNAVAILABLE naming it", async () => {
    await expect(PaxosKvClient.connect({ servers: "nats://127.0.0.1:1" })).rejects.toMatchObject(
      { code: "UNAVAILABLE", message: expect.stringMatching(
        /^cannot reach NATS at nats:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/) });
  });

  const cli = (env: Record<string, string>, args = ["get", "errors.cli"]) =>
    promisify(execFile)(process.execPath, ["--import", "tsx", CLI, ...args],
    { env: { ...process.env, PAXOSKV_NATS_URL: nats.url, ...env }, timeout: 30_000 });

  it("client errors - CLI: a wrong password names the user and the variables, in one line " +
    "without a stack", async () => {
    const out = await cli({ PAXOSKV_NATS_USER: "full", PAXOSKV_NATS_PASSWORD: "nope" })
      .then(() => null, (err: { code: number; stderr: string }) => err);
    expect(out?.code).toBe(1);
    expect(out?.stderr).toBe(`paxoskv: UNAVAILABLE: NATS at ${nats.url} refused user "full" ` +
      "(Authorization Violation): wrong user or password; set PAXOSKV_NATS_USER and " +
      "PAXOSKV_NATS_PASSWORD to the client's NATS credentials\n");
  });

  it("client errors - CLI: an unreachable server says which variable to set", async () => {
    const out = await cli({ PAXOSKV_NATS_URL: "nats://127.0.0.1:1" })
      .then(() => null, (err: { code: number; stderr: string }) => err);
    expect(out?.code).toBe(1);
    expect(out?.stderr).toMatch(/^paxoskv: UNAVAILABLE: cannot reach NATS at nats:\/\/127\.0\.0\.1:1: .*; set PAXOSKV_NATS_URL or --nats\n$/);
  });

  it("client errors - a node with a wrong password stops with one line naming the user and " +
    "the variables", async () => {
    const out = await cli({ PAXOSKV_NATS_USER: "full", PAXOSKV_NATS_PASSWORD: "nope",
      PAXOSKV_NODE_ID: "A", PAXOSKV_ROLES: "learner" }, ["node"])
      .then(() => null, (err: { code: number; stderr: string }) => err);
    expect(out?.code).toBe(1);
    expect(out?.stderr).toBe(`paxoskv: BAD_CONFIG: NATS at ${nats.url} refused user "full" ` +
      "(Authorization Violation): set PAXOSKV_NATS_USER and PAXOSKV_NATS_PASSWORD to the " +
      "node's NATS credentials\n");
  });
});
