/**
 * Rolling upgrade to proposal IDs (docs/operations.md, "Upgrading"): acceptors first, then
 * proposers. The old wire (before `proposalId`) is written out here as it was, strict objects,
 * so the mixed cases are checked against what old processes really accept.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { EMPTY_ACCEPTOR_STATE, onAccept, onPrepare } from "../../src/core/acceptor.js";
import { ballot, FAST_BALLOT } from "../../src/core/ballot.js";
import type { AcceptorToProposer } from "../../src/core/messages.js";
import { onReply, startProposal, type ProposerConfig } from "../../src/core/proposer.js";
import { seededRandom } from "../../src/core/random.js";
import {
  BallotSchema, ListRequestSchema, MsgAcceptSchema, MsgPrepareSchema, parseWire, PrepareBatchSchema,
  ReplyBatchSchema,
} from "../../src/protocol/wire.js";

const OldPrepare = z.object({ type: z.literal("prepare"), key: z.string(), ballot: BallotSchema })
  .strict();
const OldAccept = z.object({
  type: z.literal("accept"), key: z.string(), ballot: BallotSchema, value: z.string(),
}).strict();
const OldReply = z.discriminatedUnion("type", [
  z.object({ type: z.literal("promise"), key: z.string(), from: z.string(), ballot: BallotSchema,
    accepted: z.object({ ballot: BallotSchema, value: z.string() }).strict().nullable() }).strict(),
  z.object({ type: z.literal("accepted"), key: z.string(), from: z.string(), ballot: BallotSchema })
    .strict(),
  z.object({ type: z.literal("nack"), key: z.string(), from: z.string(),
    phase: z.enum(["prepare", "accept"]), ballot: BallotSchema, promised: BallotSchema }).strict(),
]);

const config: ProposerConfig = {
  nodeId: "N", acceptors: ["A", "B", "C"], phaseTimeoutTicks: 10, backoffBaseTicks: 1,
  backoffMaxTicks: 4, deadlineTicks: 100, roundCountMax: 5,
};
const wire = <T>(x: T): unknown => JSON.parse(JSON.stringify(x));

describe("mixed versions: proposal IDs", () => {
  it("upgraded acceptor, old proposer: its messages parse and the replies are the old form", () => {
    const prepare = { type: "prepare", key: "k", ballot: ballot(3, "N") } as const;
    const accept = { type: "accept", key: "k", ballot: FAST_BALLOT, value: "v" } as const;
    expect(MsgPrepareSchema.safeParse(prepare).success).toBe(true);
    expect(MsgAcceptSchema.safeParse(accept).success).toBe(true);
    expect(parseWire(PrepareBatchSchema, { v: 1, items: [prepare] }).success).toBe(true);
    const replies = [
      onPrepare(EMPTY_ACCEPTOR_STATE, prepare, "A").reply,
      onAccept(EMPTY_ACCEPTOR_STATE, accept, "A").reply,
      onAccept({ promised: ballot(9, "M"), accepted: null }, accept, "A").reply,
    ];
    for (const reply of replies) expect(OldReply.safeParse(wire(reply)).success).toBe(true);
  });

  it("upgraded proposer, old acceptor: the old acceptor refuses its messages (no vote)", () => {
    const { outbox } = startProposal(config, "k", "v", 5, { id: "N.1" });
    const fast = startProposal(config, "k", "v", 5, { id: "N.2", fast: true }).outbox;
    expect(OldPrepare.safeParse(wire(outbox[0])).success).toBe(false);
    expect(OldAccept.safeParse(wire(fast[0])).success).toBe(false);
  });

  it("upgraded proposer: a reply that names no proposal is never counted", () => {
    const random = seededRandom(1);
    let state = startProposal(config, "k", "v", 5, { id: "N.1", fast: true }).state;
    for (const from of config.acceptors) {
      const old: AcceptorToProposer = { type: "accepted", key: "k", from, ballot: FAST_BALLOT };
      expect(parseWire(ReplyBatchSchema, { v: 1, items: [old] }).success).toBe(true);
      state = onReply(config, state, old, 6, random).state;
    }
    expect(state.accepts).toEqual([]);
    expect(state.outcome).toBeNull();
  });
});

describe("mixed versions: acceptor state on a Redis Cluster", () => {
  // The registration as versions before per-bucket marks read it (not strict: extra fields
  // are dropped), and the listing request as they checked it.
  const OldRegistration = z.object({
    incarnation: z.string().min(1), mark: z.number().int().nonnegative().optional(),
  });
  const OldListRequest = z.object({
    v: z.literal(1), cursor: z.string().regex(/^\d{1,20}$/), count: z.number().int(),
  }).strict();

  it("a cluster store's registry entry reads in an old version: its incarnation and mark", () => {
    const marks = Array.from({ length: 256 }, (_, i) => i % 3);
    const entry = { incarnation: "i1", mark: marks.reduce((a, b) => a + b, 0), marks };
    expect(OldRegistration.parse(wire(entry))).toEqual({ incarnation: "i1", mark: 255 });
  });

  it("listing cursors: one Redis's stay what old versions accept; a cluster's parse here", () => {
    const single = { v: 1, cursor: "1234", count: 10 };
    expect(OldListRequest.safeParse(single).success).toBe(true);
    expect(ListRequestSchema.safeParse(single).success).toBe(true);
    const sharded = { v: 1, cursor: "3735928559/2/917504", count: 10 };
    expect(ListRequestSchema.safeParse(sharded).success).toBe(true);
    for (const cursor of ["1/2", "a/1/2", "1/2/3/4", "1/2/x", ""]) {
      expect(ListRequestSchema.safeParse({ ...single, cursor }).success, cursor).toBe(false);
    }
  });
});
