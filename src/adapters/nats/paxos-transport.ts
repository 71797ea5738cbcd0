import { nuid, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { MsgAccept, MsgPrepare, MsgRead } from "../../core/messages.js";
import { paxosReplySubject, paxosSubject, type PaxosVerb } from "../../protocol/subjects.js";
import {
  encodeBatch, ReplyBatchSchema, BATCH_ITEMS_MAX, type AcceptorReply,
} from "../../protocol/wire.js";
import { decodeJson } from "./connection.js";

type Outbound = MsgPrepare | MsgAccept | MsgRead;

/** Bytes of pending items after which a batch is sent at once (NATS max_payload is 1 MiB). */
const BATCH_BYTES_MAX = 256 * 1024;

/**
 * The proposer side of the Paxos traffic. Messages sent in the same turn of the event loop are
 * batched per verb into one NATS message; every acceptor ID is a queue group on the verb's
 * subject, so one publish reaches each acceptor once. All replies come back to one subject
 * of this process, under `paxos.>` where clients may not publish.
 */
export class NatsPaxosTransport {
  readonly #replySubject: string;
  readonly #pending = new Map<PaxosVerb, { items: Outbound[]; bytes: number }>();
  #subscription: Subscription | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    nodeId: string,
    private readonly onReply: (reply: AcceptorReply) => void,
    private readonly onMalformed: (reason: string) => void,
  ) {
    this.#replySubject = paxosReplySubject(prefix, nodeId, nuid.next());
  }

  start(): void {
    this.#subscription = this.nc.subscribe(this.#replySubject, {
      callback: (_err, msg) => {
        const parsed = ReplyBatchSchema.safeParse(decodeJson(msg.data));
        if (!parsed.success) {
          this.onMalformed(`malformed acceptor reply: ${parsed.error.issues[0]?.message ?? ""}`);
          return;
        }
        for (const item of parsed.data.items) this.onReply(item);
      },
    });
  }

  /** Queues a message; it leaves in a batch at the end of this turn of the event loop. */
  send(msg: Outbound): void {
    const verb: PaxosVerb = msg.type;
    let batch = this.#pending.get(verb);
    if (batch === undefined) {
      batch = { items: [], bytes: 0 };
      this.#pending.set(verb, batch);
      queueMicrotask(() => this.#flush(verb));
    }
    batch.items.push(msg);
    batch.bytes += msg.key.length + (msg.type === "accept" ? msg.value.length * 3 : 0) + 80;
    if (batch.items.length >= BATCH_ITEMS_MAX || batch.bytes >= BATCH_BYTES_MAX) this.#flush(verb);
  }

  #flush(verb: PaxosVerb): void {
    const batch = this.#pending.get(verb);
    if (batch === undefined || batch.items.length === 0) return;
    this.#pending.delete(verb);
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    this.nc.publish(paxosSubject(this.prefix, verb), encodeBatch(batch.items),
      { reply: this.#replySubject });
  }

  close(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
  }
}
