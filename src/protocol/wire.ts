import { z } from "zod";
import { FAST_BALLOT, NODE_ID_PATTERN } from "../core/ballot.js";
import type { AcceptorToProposer, MsgReadReply } from "../core/messages.js";
import { ChosenEventSchema } from "./replies.js";
import { validateKey } from "./subjects.js";

/**
 * Internal Paxos messages. A message is a batch: `{"v":1,"items":[...]}` carries one or more
 * keys, and the reply carries one item per request item that the acceptor could answer.
 * A batch of one is the unbatched case, so batching never changes a subject's meaning.
 */
export const WIRE_VERSION = 1;
export const BATCH_ITEMS_MAX = 1024;

const KeySchema = z.string().refine((k) => validateKey(k) === null, "invalid key");
const NodeIdSchema = z.string().regex(NODE_ID_PATTERN);

/** Round 0 is only ever the fast ballot (`FAST_BALLOT`), whose node ID is fixed. */
export const BallotSchema = z.object({
  round: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  nodeId: NodeIdSchema,
}).strict().refine((b) => b.round !== 0 || b.nodeId === FAST_BALLOT.nodeId,
  "round 0 is the fast ballot, whose node ID is \"fast\"");

/** Lone surrogates would be replaced on the way to Redis, storing a value nobody proposed. */
const ValueSchema = z.string().refine((v) => v.isWellFormed(), "value is not well-formed Unicode");

const AcceptedSchema = z.object({ ballot: BallotSchema, value: ValueSchema }).strict();

/**
 * The proposal a Prepare or Accept belongs to, echoed in its reply (see `ProposalTag`).
 * Optional on the wire: a proposer older than the field sends none, and gets none back.
 */
const ProposalIdSchema = z.string().min(1).max(64);

export const MsgPrepareSchema = z.object({
  type: z.literal("prepare"), key: KeySchema, ballot: BallotSchema,
  proposalId: ProposalIdSchema.exactOptional(),
}).strict();

export const MsgAcceptSchema = z.object({
  type: z.literal("accept"), key: KeySchema, ballot: BallotSchema, value: ValueSchema,
  proposalId: ProposalIdSchema.exactOptional(),
}).strict();

const ReadIdSchema = z.string().min(1).max(64);

export const MsgReadSchema = z.object({
  type: z.literal("read"), key: KeySchema, readId: ReadIdSchema,
}).strict();

export const MsgPromiseSchema = z.object({
  type: z.literal("promise"), key: KeySchema, from: NodeIdSchema, ballot: BallotSchema,
  accepted: AcceptedSchema.nullable(), proposalId: ProposalIdSchema.exactOptional(),
}).strict();

export const MsgAcceptedSchema = z.object({
  type: z.literal("accepted"), key: KeySchema, from: NodeIdSchema, ballot: BallotSchema,
  proposalId: ProposalIdSchema.exactOptional(),
}).strict();

export const MsgNackSchema = z.object({
  type: z.literal("nack"), key: KeySchema, from: NodeIdSchema,
  phase: z.enum(["prepare", "accept"]), ballot: BallotSchema, promised: BallotSchema,
  proposalId: ProposalIdSchema.exactOptional(),
}).strict();

export const MsgReadReplySchema = z.object({
  type: z.literal("read-reply"), key: KeySchema, readId: ReadIdSchema, from: NodeIdSchema,
  promised: BallotSchema.nullable(), accepted: AcceptedSchema.nullable(),
}).strict();

const batch = <T extends z.ZodType>(item: T) => z.object({
  v: z.literal(WIRE_VERSION),
  items: z.array(item).min(1).max(BATCH_ITEMS_MAX),
}).strict();

export const PrepareBatchSchema = batch(MsgPrepareSchema);
export const AcceptBatchSchema = batch(MsgAcceptSchema);
export const ReadBatchSchema = batch(MsgReadSchema);

/** Everything an acceptor sends back to a proposer's reply subject. */
export const ReplyBatchSchema = batch(z.discriminatedUnion("type", [
  MsgPromiseSchema, MsgAcceptedSchema, MsgNackSchema, MsgReadReplySchema,
]));

export type AcceptorReply = AcceptorToProposer | MsgReadReply;

/*
 * Fast checks on the hot path. Every Paxos message is validated at the edge; zod walks a
 * 13-item batch in about as much CPU as the acceptor spends on the rest of it, so the
 * messages that pass are checked by the hand-written predicates below, which accept exactly
 * what the schemas accept (test/protocol/wire-fast.test.ts compares them on fuzzed messages).
 * A message they refuse goes through the schema, which gives the verdict and explains it.
 */

type Json = Record<string, unknown>;

function isRecord(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A strict object: exactly `count` own keys, so with the fields checked, no extra key. */
function keyCount(o: Json): number {
  let n = 0;
  for (const k in o) if (Object.hasOwn(o, k)) n++;
  return n;
}

function isKey(x: unknown): boolean {
  return typeof x === "string" && validateKey(x) === null;
}

function isNodeId(x: unknown): boolean {
  return typeof x === "string" && NODE_ID_PATTERN.test(x);
}

function isBallot(x: unknown): boolean {
  if (!isRecord(x) || keyCount(x) !== 2) return false;
  const round = x.round;
  return typeof round === "number" && Number.isSafeInteger(round) && round >= 0 &&
    isNodeId(x.nodeId) && (round !== 0 || x.nodeId === FAST_BALLOT.nodeId);
}

function isValue(x: unknown): boolean {
  return typeof x === "string" && x.isWellFormed();
}

function isAccepted(x: unknown): boolean {
  return isRecord(x) && keyCount(x) === 2 && isBallot(x.ballot) && isValue(x.value);
}

function isReadId(x: unknown): boolean {
  return typeof x === "string" && x.length >= 1 && x.length <= 64;
}

/**
 * The number of keys a message with `fields` required fields has, counting its optional
 * `proposalId` when present and well-formed; -1 when it is present and malformed.
 */
function fieldsWithProposal(x: Json, fields: number): number {
  if (!Object.hasOwn(x, "proposalId")) return fields;
  return isReadId(x.proposalId) ? fields + 1 : -1;
}

function isPrepare(x: unknown): boolean {
  return isRecord(x) && keyCount(x) === fieldsWithProposal(x, 3) && x.type === "prepare" &&
    isKey(x.key) && isBallot(x.ballot);
}

function isAccept(x: unknown): boolean {
  return isRecord(x) && keyCount(x) === fieldsWithProposal(x, 4) && x.type === "accept" &&
    isKey(x.key) && isBallot(x.ballot) && isValue(x.value);
}

function isRead(x: unknown): boolean {
  return isRecord(x) && keyCount(x) === 3 && x.type === "read" && isKey(x.key) &&
    isReadId(x.readId);
}

function isReply(x: unknown): boolean {
  if (!isRecord(x) || !isKey(x.key)) return false;
  switch (x.type) {
    case "promise":
      return keyCount(x) === fieldsWithProposal(x, 5) && isNodeId(x.from) && isBallot(x.ballot) &&
        (x.accepted === null || isAccepted(x.accepted));
    case "accepted":
      return keyCount(x) === fieldsWithProposal(x, 4) && isNodeId(x.from) && isBallot(x.ballot);
    case "nack":
      return keyCount(x) === fieldsWithProposal(x, 6) && isNodeId(x.from) &&
        (x.phase === "prepare" || x.phase === "accept") && isBallot(x.ballot) &&
        isBallot(x.promised);
    case "read-reply":
      return keyCount(x) === 6 && isReadId(x.readId) && isNodeId(x.from) &&
        (x.promised === null || isBallot(x.promised)) &&
        (x.accepted === null || isAccepted(x.accepted));
    default:
      return false;
  }
}

function batchOf(item: (x: unknown) => boolean): (x: unknown) => boolean {
  return (x) => {
    if (!isRecord(x) || keyCount(x) !== 2 || x.v !== WIRE_VERSION) return false;
    const items = x.items;
    if (!Array.isArray(items) || items.length < 1 || items.length > BATCH_ITEMS_MAX) return false;
    for (const i of items) if (!item(i)) return false;
    return true;
  };
}

/** A chosen event without extra fields (the schema strips extras: those take the slow path). */
function isChosenEvent(x: unknown): boolean {
  if (!isRecord(x) || typeof x.key !== "string" || typeof x.value !== "string" ||
    typeof x.ballot !== "string") return false;
  const acceptors = x.acceptors;
  if (acceptors === undefined) return keyCount(x) === 3;
  return Array.isArray(acceptors) && acceptors.every((a) => typeof a === "string") &&
    keyCount(x) === 4;
}

/** The fast check of each hot-path schema. */
const FAST_CHECKS = new Map<z.ZodType, (x: unknown) => boolean>([
  [PrepareBatchSchema, batchOf(isPrepare)],
  [AcceptBatchSchema, batchOf(isAccept)],
  [ReadBatchSchema, batchOf(isRead)],
  [ReplyBatchSchema, batchOf(isReply)],
  [ChosenEventSchema, isChosenEvent],
]);

/**
 * `schema.safeParse(json)` for a decoded wire message, with the same verdict and data; fast
 * when the message is well-formed (the usual case) and `schema` has a fast check.
 */
export function parseWire<S extends z.ZodType>(
  schema: S, json: unknown,
): z.ZodSafeParseResult<z.output<S>> {
  if (FAST_CHECKS.get(schema)?.(json) === true) {
    return { success: true, data: json as z.output<S> };
  }
  return schema.safeParse(json);
}

export interface Batch<T> {
  readonly v: typeof WIRE_VERSION;
  readonly items: readonly T[];
}

export function encodeBatch<T>(items: readonly T[]): string {
  const body: Batch<T> = { v: WIRE_VERSION, items };
  return JSON.stringify(body);
}

/** Bytes a batch's envelope adds around its items. */
const ENVELOPE_BYTES = `{"v":${WIRE_VERSION},"items":[]}`.length;

/**
 * Collects encoded items into batches of at most `bytesMax` bytes and `BATCH_ITEMS_MAX`
 * items each (NATS refuses a message over its max_payload). An item too large for any batch
 * travels alone; the caller finds out when the publish fails.
 */
export class BatchEncoder {
  #parts: string[] = [];
  #bytes = ENVELOPE_BYTES;

  constructor(private readonly bytesMax: number) {}

  /** Adds an item; returns a full batch that must be sent first, if adding it made one. */
  add(item: unknown): string | null {
    return this.addEncoded(JSON.stringify(item));
  }

  /** `add` for an item already encoded as JSON. */
  addEncoded(part: string): string | null {
    const size = Buffer.byteLength(part) + 1;
    const full = this.#parts.length > 0 &&
      (this.#bytes + size > this.bytesMax || this.#parts.length >= BATCH_ITEMS_MAX);
    const out = full ? this.take() : null;
    this.#parts.push(part);
    this.#bytes += size;
    return out;
  }

  get empty(): boolean {
    return this.#parts.length === 0;
  }

  /** The pending items as one batch, or null when there are none. */
  take(): string | null {
    if (this.#parts.length === 0) return null;
    const body = `{"v":${WIRE_VERSION},"items":[${this.#parts.join(",")}]}`;
    this.#parts = [];
    this.#bytes = ENVELOPE_BYTES;
    return body;
  }
}

/** Every batch needed to carry `items` within `bytesMax` bytes each. */
export function encodeBatches(items: readonly unknown[], bytesMax: number): string[] {
  const encoder = new BatchEncoder(bytesMax);
  const out: string[] = [];
  for (const item of items) {
    const full = encoder.add(item);
    if (full !== null) out.push(full);
  }
  const last = encoder.take();
  if (last !== null) out.push(last);
  return out;
}

/** Room left for Paxos messages in a NATS message: the server's max_payload less headers. */
export function wireBytesMax(maxPayload: number | undefined): number {
  return (maxPayload ?? 1024 * 1024) - 4096;
}

export const LIST_PAGE_MAX = 1000;

/**
 * A page of the keys one acceptor holds; cursor "0" starts, and a reply cursor "0" ends. A
 * cursor is a Redis SCAN cursor, or for a Redis Cluster store `<slot map>/<primary>/<cursor>`
 * (only such an acceptor hands one out, and only it is asked with it: older versions never
 * see one).
 */
export const ListRequestSchema = z.object({
  v: z.literal(WIRE_VERSION),
  cursor: z.string().regex(/^(\d{1,20}|\d{1,10}\/\d{1,4}\/\d{1,20})$/),
  count: z.number().int().min(1).max(LIST_PAGE_MAX),
}).strict();

export const ListReplySchema = z.object({
  v: z.literal(WIRE_VERSION), from: NodeIdSchema, cursor: z.string(), keys: z.array(KeySchema),
}).strict();

export type ListReply = z.infer<typeof ListReplySchema>;

/** The answer on `paxos.fresh.<id>`: true only from a new store that has never voted. */
export const FreshReplySchema = z.object({
  v: z.literal(WIRE_VERSION), from: NodeIdSchema, fresh: z.boolean(),
}).strict();

export type FreshReply = z.infer<typeof FreshReplySchema>;
