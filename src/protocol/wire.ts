import { z } from "zod";
import { NODE_ID_PATTERN } from "../core/ballot.js";
import type { AcceptorToProposer, MsgReadReply } from "../core/messages.js";
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

export const BallotSchema = z.object({
  round: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  nodeId: NodeIdSchema,
}).strict();

/** Lone surrogates would be replaced on the way to Redis, storing a value nobody proposed. */
const ValueSchema = z.string().refine((v) => v.isWellFormed(), "value is not well-formed Unicode");

const AcceptedSchema = z.object({ ballot: BallotSchema, value: ValueSchema }).strict();

export const MsgPrepareSchema = z.object({
  type: z.literal("prepare"), key: KeySchema, ballot: BallotSchema,
}).strict();

export const MsgAcceptSchema = z.object({
  type: z.literal("accept"), key: KeySchema, ballot: BallotSchema, value: ValueSchema,
}).strict();

const ReadIdSchema = z.string().min(1).max(64);

export const MsgReadSchema = z.object({
  type: z.literal("read"), key: KeySchema, readId: ReadIdSchema,
}).strict();

export const MsgPromiseSchema = z.object({
  type: z.literal("promise"), key: KeySchema, from: NodeIdSchema, ballot: BallotSchema,
  accepted: AcceptedSchema.nullable(),
}).strict();

export const MsgAcceptedSchema = z.object({
  type: z.literal("accepted"), key: KeySchema, from: NodeIdSchema, ballot: BallotSchema,
}).strict();

export const MsgNackSchema = z.object({
  type: z.literal("nack"), key: KeySchema, from: NodeIdSchema,
  phase: z.enum(["prepare", "accept"]), ballot: BallotSchema, promised: BallotSchema,
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
    const part = JSON.stringify(item);
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

/** A page of the keys one acceptor holds; cursor "0" starts, and a reply cursor "0" ends. */
export const ListRequestSchema = z.object({
  v: z.literal(WIRE_VERSION),
  cursor: z.string().regex(/^\d{1,20}$/),
  count: z.number().int().min(1).max(LIST_PAGE_MAX),
}).strict();

export const ListReplySchema = z.object({
  v: z.literal(WIRE_VERSION), from: NodeIdSchema, cursor: z.string(), keys: z.array(KeySchema),
}).strict();

export type ListReply = z.infer<typeof ListReplySchema>;
