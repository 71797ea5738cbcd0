/**
 * Bad input at every edge of a running cluster: public requests with invalid keys, oversized
 * or non-UTF-8 values, bodies where none belong; internal Paxos messages that are not JSON or
 * not the expected shape. Each gets its documented error code, nothing stored changes, and
 * the nodes keep serving.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import {
  paxosListSubject, paxosSubject, type PaxosVerb,
} from "../../src/protocol/subjects.js";
import { AcceptorRedis, connectTo, gather, requestJson, tearDown } from "./support/cluster-tools.js";

const VALUE_BYTES_MAX = 64 * 1024;

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
let nc: NatsConnection;
let nodes: NodeProcess[];

beforeAll(async () => {
  cluster = await startLocalCluster();
  nodes = await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 10_000 });
  nc = await connectTo(cluster);
  redis = new AcceptorRedis(cluster);
  // Some state to protect: keys created before the bad input arrives.
  for (let i = 0; i < 5; i++) await client.create(`bad.existing.${i}`, `value-${i}`);
});

afterAll(() => tearDown(cluster, redis, client, nc));

const subject = (op: string, key: string) => `${cluster.prefix}.${op}.${key}`;
const bytes = (...b: number[]) => new Uint8Array(b);

function errorReply(code: string) {
  return { ok: false, error: { code, message: expect.any(String) } };
}

/** Runs `send` and checks every acceptor's Redis is exactly as it was before. */
async function expectNothingStored(send: () => Promise<void>): Promise<void> {
  const before = await redis.snapshot();
  await send();
  // Let any (wrongly) accepted write land before looking again.
  await nc.flush();
  expect(await redis.snapshot()).toEqual(before);
}

describe("bad input - public subjects", () => {
  it.each([
    ["a non-ASCII letter", "héllo"],
    ["a dollar sign", "a$b"],
    ["a slash", "a/b"],
    ["a comma", "a,b"],
    ["a token of non-ASCII only", "ключ"],
    ["256 bytes", "k".repeat(256)],
    ["256 bytes in several tokens", `${"a".repeat(127)}.${"b".repeat(128)}`],
  ])("bad input - a key with %s is INVALID_KEY on create, get and replica-get",
    async (_, key) => {
      await expectNothingStored(async () => {
        expect(await requestJson(nc, subject("create", key), "v")).toEqual(
          errorReply("INVALID_KEY"));
        expect(await requestJson(nc, subject("get", key))).toEqual(errorReply("INVALID_KEY"));
        expect(await requestJson(nc, subject("replica-get", key))).toEqual(
          errorReply("INVALID_KEY"));
      });
    });

  it("bad input - a key of exactly 255 bytes is valid", async () => {
    const key = `${"a".repeat(127)}.${"b".repeat(127)}`;
    expect(Buffer.byteLength(key)).toBe(255);
    expect(await requestJson(nc, subject("create", key), "v")).toEqual(
      { ok: true, key, value: "v", created: true });
  });

  it("bad input - a value over 64 KiB is VALUE_TOO_LARGE; exactly 64 KiB is created",
    async () => {
      await expectNothingStored(async () => {
        expect(await requestJson(nc, subject("create", "bad.big"), "x".repeat(VALUE_BYTES_MAX + 1)))
          .toEqual(errorReply("VALUE_TOO_LARGE"));
        // The limit is in bytes: 32,769 two-byte letters are 65,538 bytes.
        const twoByteLetters = "é".repeat(VALUE_BYTES_MAX / 2 + 1);
        expect(await requestJson(nc, subject("create", "bad.big"), twoByteLetters))
          .toEqual(errorReply("VALUE_TOO_LARGE"));
      });
      const value = "é".repeat(VALUE_BYTES_MAX / 2);
      expect(await requestJson(nc, subject("create", "bad.big"), value)).toEqual(
        { ok: true, key: "bad.big", value, created: true });
      expect(await client.get("bad.big")).toEqual({ key: "bad.big", found: true, value });
    });

  it.each([
    ["0xff 0xfe", bytes(0xff, 0xfe)],
    ["a truncated sequence", bytes(0x61, 0xe2, 0x82)],
    ["an overlong encoding of /", bytes(0xc0, 0xaf)],
    ["an encoded surrogate", bytes(0xed, 0xa0, 0x80)],
  ])("bad input - a value that is not UTF-8 (%s) is BAD_REQUEST", async (_, body) => {
    await expectNothingStored(async () => {
      expect(await requestJson(nc, subject("create", "bad.utf8"), body)).toEqual(
        errorReply("BAD_REQUEST"));
    });
    expect(await client.get("bad.utf8")).toEqual({ key: "bad.utf8", found: false });
  });

  it.each([
    ["get", "x"], ["get", bytes(0xff)], ["replica-get", "x"], ["replica-get", " "],
  ])("bad input - %s with a non-empty body is BAD_REQUEST", async (op, body) => {
    await expectNothingStored(async () => {
      expect(await requestJson(nc, subject(op, "bad.existing.0"), body)).toEqual(
        errorReply("BAD_REQUEST"));
      expect(await requestJson(nc, subject(op, "bad.missing"), body)).toEqual(
        errorReply("BAD_REQUEST"));
    });
  });
});

describe("bad input - internal Paxos subjects", () => {
  const ballot = { round: Date.now(), nodeId: "Z" };
  const valid: Record<PaxosVerb, Record<string, unknown>> = {
    prepare: { type: "prepare", key: "bad.paxos", ballot },
    accept: { type: "accept", key: "bad.paxos", ballot, value: "forged" },
    read: { type: "read", key: "bad.paxos", readId: "r1" },
  };
  const batch = (...items: unknown[]) => JSON.stringify({ v: 1, items });
  const verbs: PaxosVerb[] = ["prepare", "accept", "read"];

  /** Bodies that are not a valid batch for `verb`. */
  function badBodies(verb: PaxosVerb): [string, string | Uint8Array][] {
    const item = valid[verb];
    const other = valid[verb === "prepare" ? "accept" : "prepare"];
    const cases: [string, string | Uint8Array][] = [
      ["malformed JSON", "{not json"],
      ["an empty body", ""],
      ["non-UTF-8 bytes", bytes(0xff, 0xfe, 0x7b, 0x7d)],
      ["JSON null", "null"],
      ["a JSON array", JSON.stringify([item])],
      ["a bare item without the batch", JSON.stringify(item)],
      ["wire version 2", JSON.stringify({ v: 2, items: [item] })],
      ["no items", JSON.stringify({ v: 1 })],
      ["an empty batch", batch()],
      ["1025 items", batch(...Array.from({ length: 1025 }, () => item))],
      ["an extra field", batch({ ...item, extra: 1 })],
      ["another verb's item", batch(other)],
      ["a bad item after a good one", batch(item, { ...item, key: "a b" })],
      ["an invalid key", batch({ ...item, key: "héllo" })],
      ["a key over 255 bytes", batch({ ...item, key: "k".repeat(256) })],
      ["a missing key", batch({ ...item, key: undefined })],
    ];
    if (verb === "read") {
      cases.push(
        ["no read ID", batch({ ...item, readId: undefined })],
        ["an empty read ID", batch({ ...item, readId: "" })],
        ["a 65-character read ID", batch({ ...item, readId: "r".repeat(65) })],
      );
    } else {
      cases.push(
        ["a negative round", batch({ ...item, ballot: { round: -1, nodeId: "Z" } })],
        ["a fractional round", batch({ ...item, ballot: { round: 1.5, nodeId: "Z" } })],
        ["a round over 2^53", batch({ ...item, ballot: { round: 2 ** 53, nodeId: "Z" } })],
        ["a round as a string", batch({ ...item, ballot: { round: "5", nodeId: "Z" } })],
        ["a bad node ID", batch({ ...item, ballot: { round: 5, nodeId: "Z!" } })],
        ["a 33-character node ID",
          batch({ ...item, ballot: { round: 5, nodeId: "Z".repeat(33) } })],
        ["no ballot", batch({ ...item, ballot: undefined })],
      );
    }
    if (verb === "accept") {
      cases.push(
        ["no value", batch({ ...item, value: undefined })],
        ["a numeric value", batch({ ...item, value: 7 })],
        // JSON can carry a lone surrogate ("\ud800"); Redis would store U+FFFD instead.
        ["a value with a lone surrogate", batch({ ...item, value: "a\ud800b" })],
      );
    }
    return cases;
  }

  describe.each(verbs)("%s", (verb) => {
    it.each(badBodies(verb))(`bad input - ${verb}: %s gets BAD_REQUEST from every acceptor ` +
      "and stores nothing", async (_, body) => {
      await expectNothingStored(async () => {
        const replies = await gather(nc, paxosSubject(cluster.prefix, verb), body, 3);
        expect(replies.map((r) => JSON.parse(r.string()) as unknown)).toEqual(
          [errorReply("BAD_REQUEST"), errorReply("BAD_REQUEST"), errorReply("BAD_REQUEST")]);
      });
    });
  });

  it.each([
    ["malformed JSON", "{not json"],
    ["an empty body", ""],
    ["non-UTF-8 bytes", bytes(0xff, 0xfe)],
    ["wire version 2", JSON.stringify({ v: 2, cursor: "0", count: 10 })],
    ["a non-numeric cursor", JSON.stringify({ v: 1, cursor: "abc", count: 10 })],
    ["a count of 0", JSON.stringify({ v: 1, cursor: "0", count: 0 })],
    ["a count over the page maximum", JSON.stringify({ v: 1, cursor: "0", count: 1001 })],
    ["an extra field", JSON.stringify({ v: 1, cursor: "0", count: 10, all: true })],
  ])("bad input - list: %s gets BAD_REQUEST from the acceptor", async (_, body) => {
    await expectNothingStored(async () => {
      for (const id of cluster.acceptors) {
        const replies = await gather(nc, paxosListSubject(cluster.prefix, id), body, 1);
        expect(replies.map((r) => JSON.parse(r.string()) as unknown)).toEqual(
          [errorReply("BAD_REQUEST")]);
      }
    });
  });

  it("bad input - after all that every node still runs and every acceptor answers",
    async () => {
      expect(nodes.map((n) => n.running)).toEqual([true, true, true]);
      const replies = await gather(nc, paxosSubject(cluster.prefix, "read"),
        batch(valid.read), 3);
      const froms = replies.map((r) => (JSON.parse(r.string()) as {
        items: { type: string; from: string; accepted: unknown }[];
      }).items[0]);
      expect(froms.map((f) => f?.from).sort()).toEqual(["A", "B", "C"]);
      expect(froms.every((f) => f?.type === "read-reply" && f.accepted === null)).toBe(true);
      for (let i = 0; i < 20; i++) {
        expect(await client.create(`bad.after.${i}`, "fine")).toEqual(
          { key: `bad.after.${i}`, value: "fine", created: true });
      }
      for (let i = 0; i < 5; i++) {
        expect(await client.get(`bad.existing.${i}`)).toEqual(
          { key: `bad.existing.${i}`, found: true, value: `value-${i}` });
      }
    });
});
