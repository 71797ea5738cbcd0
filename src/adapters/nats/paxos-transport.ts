import { nuid, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { MsgAccept, MsgPrepare, MsgRead } from "../../core/messages.js";
import { paxosReplySubject, paxosSubject, type PaxosVerb } from "../../protocol/subjects.js";
import {
  BatchEncoder, parseWire, ReplyBatchSchema, wireBytesMax, type AcceptorReply,
} from "../../protocol/wire.js";
import { decodeJson } from "./connection.js";

type Outbound = MsgPrepare | MsgAccept | MsgRead;

/**
 * The proposer side of the Paxos traffic. Messages sent in the same turn of the event loop are
 * batched per verb into one NATS message (more when they exceed max_payload); every acceptor
 * ID is a queue group on the verb's subject, so one publish reaches each acceptor once. All
 * replies come back to one subject of this process, under `paxos.>` where clients may not
 * publish.
 */
export class NatsPaxosTransport {
  readonly #replySubject: string;
  readonly #pending = new Map<PaxosVerb, BatchEncoder>();
  #subscription: Subscription | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    nodeId: string,
    private readonly onReply: (reply: AcceptorReply) => void,
    private readonly onProblem: (reason: string) => void,
  ) {
    this.#replySubject = paxosReplySubject(prefix, nodeId, nuid.next());
  }

  start(): void {
    this.#subscription = this.nc.subscribe(this.#replySubject, {
      callback: (_err, msg) => {
        // A status message (503: no acceptor subscribed yet) is not a reply; the proposal
        // simply times out like any unanswered phase.
        if (msg.headers?.hasError === true && msg.data.length === 0) return;
        const parsed = parseWire(ReplyBatchSchema, decodeJson(msg.data));
        if (!parsed.success) {
          this.onProblem(`malformed acceptor reply: ${parsed.error.issues[0]?.message ?? ""}`);
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
      batch = new BatchEncoder(wireBytesMax(this.nc.info?.max_payload));
      this.#pending.set(verb, batch);
      queueMicrotask(() => this.#flush(verb));
    }
    const full = batch.add(msg);
    if (full !== null) this.#publish(verb, full);
  }

  #flush(verb: PaxosVerb): void {
    const body = this.#pending.get(verb)?.take() ?? null;
    this.#pending.delete(verb);
    if (body !== null) this.#publish(verb, body);
  }

  #publish(verb: PaxosVerb, body: string): void {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    try {
      this.nc.publish(paxosSubject(this.prefix, verb), body, { reply: this.#replySubject });
    } catch (err) {
      // Too large for NATS: the proposal times out like any lost message, the node stays up.
      this.onProblem(`cannot send ${verb}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  close(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
  }
}
