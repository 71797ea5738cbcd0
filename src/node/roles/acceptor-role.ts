import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import { decodeJson } from "../../adapters/nats/connection.js";
import {
  AcceptorFencedError, type AcceptorMaintenanceStore, type AcceptorVotingStore,
} from "../../adapters/ports.js";
import { AssertionFailure } from "../../core/assert.js";
import { ErrorCode } from "../../protocol/codes.js";
import { errorReply } from "../../protocol/replies.js";
import {
  acceptorQueue, paxosListSubject, paxosSubject, type PaxosVerb,
} from "../../protocol/subjects.js";
import {
  AcceptBatchSchema, encodeBatches, ListRequestSchema, parseWire, PrepareBatchSchema,
  ReadBatchSchema, wireBytesMax,
  WIRE_VERSION, type AcceptorReply, type ListReply,
} from "../../protocol/wire.js";
import { Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "../infrastructure/logger.js";
import type { Metrics } from "../infrastructure/metrics.js";

/**
 * Serves Prepare, Accept and Read for one acceptor ID. Every process of that ID joins the same
 * queue group, so each message is answered once per acceptor; the store's scripts make the
 * transitions atomic, so processes sharing one Redis stay safe. Replies leave only after the
 * store acknowledged the durable write.
 */
export class AcceptorRole {
  #subscriptions: Subscription[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  /** The store failing messages (its Redis down or slow): logged while it lasts. */
  #storeFailing: Ongoing | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    /** Votes; and lists its keys for anti-entropy and rejoins of the other acceptors. */
    private readonly store: AcceptorVotingStore & Pick<AcceptorMaintenanceStore, "scanKeys">,
    private readonly log: Logger,
    private readonly metrics?: Metrics,
    /** Told when the store refused a message (its state is not the registered one). */
    private readonly onFenced: (error: AcceptorFencedError) => void = () => undefined,
    /**
     * Whether the acceptor may answer now (its registration lease holds). Asked before the
     * store is touched and again just before a reply leaves: a process paused in between
     * (SIGSTOP, a long GC) wakes with an expired lease and sends nothing.
     */
    private readonly mayAnswer: () => boolean = () => true,
  ) {}

  get started(): boolean {
    return this.#subscriptions.length > 0;
  }

  start(): void {
    if (this.started) return;
    // A null is a key whose part of the store refused (a wiped cluster shard): no answer.
    this.#serve("prepare", PrepareBatchSchema,
      async (items) => answered(await this.store.prepareMany(items)));
    this.#serve("accept", AcceptBatchSchema,
      async (items) => answered(await this.store.acceptMany(items)));
    this.#serve("read", ReadBatchSchema, async (items) => answered(await Promise.all(
      items.map(async (m): Promise<AcceptorReply | null> => {
        const state = await this.store.read(m.key);
        const from = this.store.acceptorId;
        return state === null ? null :
          { type: "read-reply", key: m.key, readId: m.readId, from, ...state };
      }))));
    this.#serveList();
  }

  /** Stops taking messages and waits for the ones being handled. */
  async stop(): Promise<void> {
    for (const sub of this.#subscriptions) sub.unsubscribe();
    this.#subscriptions = [];
    await Promise.all(this.#inFlight);
  }

  #serve<S extends z.ZodType<{ items: readonly unknown[] }>>(
    verb: PaxosVerb, schema: S,
    handle: (items: z.infer<S>["items"]) => Promise<readonly AcceptorReply[]>,
  ): void {
    const subject = paxosSubject(this.prefix, verb);
    const sub = this.nc.subscribe(subject, {
      queue: acceptorQueue(this.store.acceptorId),
      callback: (_err, msg) => {
        const parsed = parseWire(schema, decodeJson(msg.data));
        if (!parsed.success) {
          this.#refuse(msg, verb, parsed.error.issues[0]);
          return;
        }
        const work = this.#answer(msg, () => handle(parsed.data.items));
        this.#inFlight.add(work);
        void work.finally(() => this.#inFlight.delete(work));
      },
    });
    this.#subscriptions.push(sub);
  }

  /** Pages of the keys this acceptor holds, for a learner rebuilding its replica. */
  #serveList(): void {
    const subject = paxosListSubject(this.prefix, this.store.acceptorId);
    const sub = this.nc.subscribe(subject, {
      queue: acceptorQueue(this.store.acceptorId),
      callback: (_err, msg) => {
        const parsed = ListRequestSchema.safeParse(decodeJson(msg.data));
        if (!parsed.success) {
          this.#refuse(msg, "list", parsed.error.issues[0]);
          return;
        }
        if (!this.mayAnswer()) return;
        const work = this.store.scanKeys(parsed.data.cursor, parsed.data.count).then((page) => {
          if (!this.mayAnswer()) return;
          const reply: ListReply = {
            v: WIRE_VERSION, from: this.store.acceptorId, cursor: page.cursor, keys: [...page.keys],
          };
          if (msg.reply !== undefined) msg.respond(JSON.stringify(reply));
        }, (err: unknown) => {
          if (err instanceof AcceptorFencedError) return this.onFenced(err);
          this.log.warn({ err, code: ErrorCode.UNAVAILABLE }, "acceptor store failed to list keys");
        });
        this.#inFlight.add(work);
        void work.finally(() => this.#inFlight.delete(work));
      },
    });
    this.#subscriptions.push(sub);
  }

  async #answer(msg: Msg, handle: () => Promise<readonly AcceptorReply[]>): Promise<void> {
    if (!this.mayAnswer()) return;
    let replies: readonly AcceptorReply[];
    try {
      replies = await handle();
    } catch (err) {
      // A broken invariant stops the node (the state is durable, so a restart is safe).
      if (err instanceof AssertionFailure) throw err;
      // No reply: this store must not vote, and the node stops the role.
      if (err instanceof AcceptorFencedError) return this.onFenced(err);
      // The store is down or slow: no reply is the honest answer; the proposer times out.
      this.#storeFailing ??= new Ongoing(this.log, REPEAT_LOG_INTERVAL_MS);
      this.#storeFailing.failed({ err, code: ErrorCode.UNAVAILABLE },
        "acceptor store failed: no reply to Paxos messages");
      return;
    }
    if (this.#storeFailing?.active === true) {
      this.#storeFailing.ended({}, "acceptor store answers Paxos messages again");
    }
    if (this.metrics !== undefined) {
      for (const r of replies) {
        if (r.type === "read-reply") continue;
        const phase = r.type === "nack" ? r.phase : r.type === "promise" ? "prepare" : "accept";
        this.metrics.acceptorReplies.inc({ reply: r.type, phase });
      }
    }
    if (msg.reply === undefined || replies.length === 0 || this.nc.isClosed()) return;
    if (!this.mayAnswer()) return;
    // Promises and reads carry accepted values: a batch's replies may need several messages.
    for (const body of encodeBatches(replies, wireBytesMax(this.nc.info?.max_payload))) {
      try {
        msg.respond(body);
      } catch (err) {
        this.log.warn({ err, code: ErrorCode.INTERNAL }, "a reply too large for NATS was dropped");
      }
    }
  }

  #refuse(msg: Msg, verb: PaxosVerb | "list", issue: { message: string; path: PropertyKey[] } | undefined): void {
    const detail = issue === undefined ? "not UTF-8 JSON" :
      `${issue.path.join(".") || "body"}: ${issue.message}`;
    this.log.warn({ code: ErrorCode.BAD_REQUEST, subject: msg.subject, verb, detail },
      "malformed Paxos message refused");
    if (msg.reply !== undefined) {
      msg.respond(JSON.stringify(errorReply(ErrorCode.BAD_REQUEST, `malformed ${verb}: ${detail}`)));
    }
  }
}

function answered<T>(replies: readonly (T | null)[]): T[] {
  return replies.filter((r): r is T => r !== null);
}
