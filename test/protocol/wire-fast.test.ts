import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import { ChosenEventSchema } from "../../src/protocol/replies.js";
import {
  AcceptBatchSchema, parseWire, PrepareBatchSchema, ReadBatchSchema, ReplyBatchSchema,
} from "../../src/protocol/wire.js";

/**
 * `parseWire` checks well-formed Paxos messages by hand instead of through zod (the hot path).
 * It must agree with the schema on every input: the same verdict, and the same data when it
 * passes. Messages are built from mostly well-formed fields (now and then a bad key, node ID,
 * round, value or read ID), then mutated a few times (a field dropped, added, replaced by a
 * value of any type, a batch emptied or grown) and both verdicts compared.
 */

const pick = <T>(random: Random, xs: readonly T[]): T => xs[randomInt(random, xs.length)] as T;

const KEYS = ["k", "a.b", "x-1:=_", "x".repeat(255), "é", "a..b", "", "a b", "x".repeat(256),
  "a$b", "~u", "ключ"];
const NODE_IDS = ["A", "node_1-2", "x".repeat(32), "fast", "", "A.B", "x".repeat(33), "é", "a b"];
const ROUNDS = [0, 1, 1795768434692, Number.MAX_SAFE_INTEGER, -1, 1.5, 2 ** 53, -0, 1e308, "12",
  Number.MIN_VALUE];
const VALUES = ["", "3", "v".repeat(100), "é\u0000\n\"", "\ud800", "a\udc00b", "😀"];
const READ_IDS = ["r", "abc-1", "x".repeat(64), "", "x".repeat(65)];

/** Any JSON value, to put where a field's value belongs. */
function anyJson(random: Random, depth = 0): unknown {
  switch (randomInt(random, depth > 1 ? 6 : 8)) {
    case 0: return null;
    case 1: return random.next() < 0.5;
    case 2: return pick(random, ROUNDS);
    case 3: return pick(random, [...KEYS, ...VALUES, ...NODE_IDS]);
    case 4: return {};
    case 5: return pick(random, ["prepare", "accept", "read", "promise", "accepted", "nack",
      "read-reply", "PREPARE"]);
    case 6: return [anyJson(random, depth + 1)];
    default: return validBallot(random);
  }
}

/** Mostly one of the first `valid` entries (well-formed), now and then any of them. */
function usually<T>(random: Random, xs: readonly T[], valid: number): T {
  return pick(random, random.next() < 0.95 ? xs.slice(0, valid) : xs);
}

function validBallot(random: Random): Record<string, unknown> {
  return { round: usually(random, ROUNDS, 4), nodeId: usually(random, NODE_IDS, 4) };
}

function validAccepted(random: Random): Record<string, unknown> {
  return { ballot: validBallot(random), value: usually(random, VALUES, 4) };
}

type Kind = "prepare" | "accept" | "read" | "reply";

/** Prepare, Accept and their replies may name their proposal (absent from older proposers). */
function tagged(random: Random, item: Record<string, unknown>): Record<string, unknown> {
  return random.next() < 0.3 ? item : { ...item, proposalId: usually(random, READ_IDS, 3) };
}

function validItem(random: Random, kind: Kind): Record<string, unknown> {
  const item = untaggedItem(random, kind);
  return item.type === "read" || item.type === "read-reply" ? item : tagged(random, item);
}

function untaggedItem(random: Random, kind: Kind): Record<string, unknown> {
  const key = usually(random, KEYS, 5);
  const from = usually(random, NODE_IDS, 4);
  const readId = usually(random, READ_IDS, 3);
  switch (kind) {
    case "prepare": return { type: "prepare", key, ballot: validBallot(random) };
    case "accept": return { type: "accept", key, ballot: validBallot(random),
      value: usually(random, VALUES, 4) };
    case "read": return { type: "read", key, readId };
    case "reply": return pick(random, [
      { type: "promise", key, from, ballot: validBallot(random),
        accepted: random.next() < 0.5 ? null : validAccepted(random) },
      { type: "accepted", key, from, ballot: validBallot(random) },
      { type: "nack", key, from, phase: pick(random, ["prepare", "accept"]),
        ballot: validBallot(random), promised: validBallot(random) },
      { type: "read-reply", key, readId, from,
        promised: random.next() < 0.5 ? null : validBallot(random),
        accepted: random.next() < 0.5 ? null : validAccepted(random) },
    ]);
  }
}

/** Changes one thing somewhere inside `x` (an object or array), recursively. */
function mutate(random: Random, x: unknown): unknown {
  if (Array.isArray(x)) {
    const copy = [...x] as unknown[];
    switch (randomInt(random, 4)) {
      case 0: return [];
      case 1: copy.push(anyJson(random)); return copy;
      case 2: copy.pop(); return copy;
      default: {
        const i = randomInt(random, Math.max(1, copy.length));
        copy[i] = mutate(random, copy[i]);
        return copy;
      }
    }
  }
  if (typeof x !== "object" || x === null) return anyJson(random);
  const copy: Record<string, unknown> = { ...(x as Record<string, unknown>) };
  const keys = Object.keys(copy);
  switch (randomInt(random, 5)) {
    case 0: delete copy[pick(random, keys)]; return copy;
    case 1: copy[pick(random, ["extra", "v", "type", "from", "__proto__"])] = anyJson(random);
      return copy;
    case 2: copy[pick(random, keys)] = anyJson(random); return copy;
    default: {
      const k = pick(random, keys);
      copy[k] = mutate(random, copy[k]);
      return copy;
    }
  }
}

const SCHEMAS: Record<Kind, z.ZodType> = {
  prepare: PrepareBatchSchema, accept: AcceptBatchSchema, read: ReadBatchSchema,
  reply: ReplyBatchSchema,
};

/**
 * Feeds 20,000 generated messages, each mutated 0–2 times and sent through JSON as on the
 * wire, to the schema and to `parseWire`: the verdicts agree, and so does the data when valid.
 */
function expectSameVerdicts(schema: z.ZodType, seed: number, generate: (random: Random) => unknown):
  void {
  const random = seededRandom(seed);
  let passed = 0;
  for (let n = 0; n < 20_000; n++) {
    let message = generate(random);
    for (let m = randomInt(random, 3); m > 0; m--) message = mutate(random, message);
    const json: unknown = JSON.parse(JSON.stringify(message) ?? "null");
    const expected = schema.safeParse(json);
    const actual = parseWire(schema, json);
    expect(actual.success, JSON.stringify(json)).toBe(expected.success);
    if (expected.success) {
      passed++;
      expect(actual.data).toEqual(expected.data);
    }
  }
  // Both sides of the verdict were exercised.
  expect(passed).toBeGreaterThan(2_000);
  expect(passed).toBeLessThan(18_000);
}

describe("wire - the hand-written checks agree with the schemas", () => {
  it.each(Object.keys(SCHEMAS) as Kind[])("wire - %s batches: same verdict and data", (kind) => {
    expectSameVerdicts(SCHEMAS[kind], 7 + kind.length, (random) => ({
      v: 1, items: Array.from({ length: 1 + randomInt(random, 3) }, () => validItem(random, kind)),
    }));
  });

  it("wire - chosen events: same verdict and data", () => {
    expectSameVerdicts(ChosenEventSchema, 11, (random) => ({
      key: usually(random, KEYS, 5), value: usually(random, VALUES, 4),
      ballot: pick(random, ["1795768434692.A", "1.B", ""]),
      ...(random.next() < 0.5 ? { acceptors: ["A", "C"] } : {}),
    }));
  });

  it("wire - an own __proto__ key is an extra field to both", () => {
    const json: unknown = JSON.parse(
      '{"v":1,"items":[{"type":"read","key":"k","readId":"r","__proto__":1}]}');
    expect(ReadBatchSchema.safeParse(json).success).toBe(false);
    expect(parseWire(ReadBatchSchema, json).success).toBe(false);
  });
});
