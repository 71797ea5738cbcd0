import type { AcceptorRegistry, Registration } from "../../adapters/jetstream/acceptor-registry.js";
import { AcceptorFencedError } from "../../adapters/ports.js";
import { RedisAcceptorReader } from "../../adapters/redis/index.js";
import { AssertionFailure } from "../../core/assert.js";
import type { AcceptedProposal } from "../../core/messages.js";
import { ErrorCode } from "../../protocol/codes.js";
import { ConfigError } from "../infrastructure/config.js";
import { Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "../infrastructure/logger.js";

export interface DirectReadsOptions {
  /** Each acceptor ID with its Redis URL (PAXOSKV_ACCEPTOR_REDIS). */
  readonly urls: ReadonlyMap<string, string>;
  readonly registry: Pick<AcceptorRegistry, "get" | "watch">;
  readonly prefix: string;
  /** A read without a reply after this long fails (a hung Redis). */
  readonly commandTimeoutMs: number;
  readonly log: Logger;
}

/** How long a starting node waits for the acceptors' Redis before it serves anyway. */
const CONNECT_WAIT_MS = 2000;
const WATCH_ATTEMPTS = 20;

/**
 * The acceptors' Redis, read directly by quorum reads: one connection per acceptor, each read
 * fenced with the incarnation the registry holds for that acceptor (kept current by a watch),
 * as the acceptor's own store is. A Redis that fails, a store that refuses (wiped or
 * replaced) and an acceptor with no registration all count as an acceptor that did not answer.
 */
export class AcceptorRedisReads {
  readonly #readers = new Map<string, RedisAcceptorReader>();
  /** Each acceptor's registration: the incarnation and write mark its store must show. */
  readonly #incarnations = new Map<string, { incarnation: string; mark: number }>();
  readonly #stopWatches: (() => void)[] = [];
  /** Per acceptor: its Redis failing, logged every few seconds while it lasts. */
  readonly #down = new Map<string, Ongoing>();

  private constructor(private readonly options: DirectReadsOptions) {
    for (const [id, url] of options.urls) {
      this.#down.set(id, new Ongoing(options.log, REPEAT_LOG_INTERVAL_MS));
      this.#readers.set(id, new RedisAcceptorReader({
        acceptorId: id, url, prefix: options.prefix, commandTimeoutMs: options.commandTimeoutMs,
        onConnectionError: (err) => this.#failed(id, err),
        onReady: () => this.#answered(id),
        // A read while disconnected fails at once (no answer) instead of queueing.
        redisOptions: { enableOfflineQueue: false },
      }));
    }
  }

  /** Connects and follows the registrations; a Redis down at start does not stop it. */
  static async open(options: DirectReadsOptions): Promise<AcceptorRedisReads> {
    const reads = new AcceptorRedisReads(options);
    try {
      await Promise.all([...options.urls.keys()].map((id) => reads.#follow(id)));
      await Promise.all([...reads.#readers].map(async ([id, reader]) => {
        if (!await reader.connected(CONNECT_WAIT_MS)) {
          options.log.warn({ code: ErrorCode.UNAVAILABLE, acceptor: id },
            `acceptor ${id}'s Redis is not reachable yet; reads count it as silent meanwhile`);
        } else if (await reader.isClusterNode()) {
          throw new ConfigError("invalid configuration:\n  PAXOSKV_ACCEPTOR_REDIS: the Redis of " +
            `${id} is a node of a Redis Cluster; direct reads need one Redis per acceptor ` +
            "(leave PAXOSKV_ACCEPTOR_REDIS unset: quorum reads then go over NATS)");
        }
      }));
    } catch (err) {
      await reads.close();
      throw err;
    }
    return reads;
  }

  /** The acceptor's accepted proposal for `key`; rejects when it cannot answer. */
  async read(acceptorId: string, key: string): Promise<AcceptedProposal | null> {
    const reader = this.#readers.get(acceptorId);
    const registered = this.#incarnations.get(acceptorId);
    if (reader === undefined || registered === undefined) {
      throw new AcceptorFencedError(`acceptor ${acceptorId} has no registration`);
    }
    let accepted: AcceptedProposal | null;
    try {
      accepted = (await reader.readFenced(key, registered.incarnation, registered.mark)).accepted;
    } catch (err) {
      this.#failed(acceptorId, err);
      throw err;
    }
    this.#answered(acceptorId);
    return accepted;
  }

  /** Per acceptor: is its Redis connected, with a registration to fence reads by? */
  reachable(): Map<string, boolean> {
    return new Map([...this.#readers].map(([id, reader]) =>
      [id, reader.ready && this.#incarnations.has(id)]));
  }

  /** The registry was lost and made anew: read and watch every registration again. */
  async refollow(): Promise<void> {
    for (const stop of this.#stopWatches.splice(0)) stop();
    await Promise.all([...this.#readers.keys()].map((id) => this.#follow(id)));
  }

  async close(): Promise<void> {
    for (const stop of this.#stopWatches) stop();
    await Promise.all([...this.#readers.values()].map((r) => r.close()));
  }

  /** The registration now, then every change (JetStream may still be starting: retried). */
  async #follow(id: string): Promise<void> {
    const apply = (r: Registration | null) => {
      if (r === null) this.#incarnations.delete(id);
      else this.#incarnations.set(id, { incarnation: r.incarnation, mark: r.mark });
    };
    for (let attempt = 1; ; attempt++) {
      try {
        apply(await this.options.registry.get(id));
        this.#stopWatches.push(await this.options.registry.watch(id, apply));
        return;
      } catch (err) {
        if (attempt >= WATCH_ATTEMPTS) throw err;
        this.options.log.warn({ err, code: ErrorCode.UNAVAILABLE, acceptor: id },
          `cannot read acceptor ${id}'s registration yet; retrying`);
        await new Promise((resolve) => setTimeout(resolve, 250 * Math.min(attempt, 8)));
      }
    }
  }

  /** The acceptor's Redis answers (again): the end of its failure, if one was logged. */
  #answered(id: string): void {
    const down = this.#down.get(id);
    if (down?.active === true) {
      down.ended({ acceptor: id }, `acceptor ${id}'s Redis answers quorum reads again`);
    }
  }

  /** One line every few seconds per acceptor: a Redis that is down fails every read. */
  #failed(id: string, err: unknown): void {
    const message = (why: string) =>
      `acceptor ${id}'s Redis ${why}: quorum reads count it as silent`;
    if (err instanceof AssertionFailure) {
      // Not this node's state to crash over: the acceptor itself stops at its next read of it.
      this.#down.get(id)?.failed({ err, code: ErrorCode.INTERNAL, acceptor: id },
        message("holds a malformed state"), "error");
      return;
    }
    this.#down.get(id)?.failed({ err, code: ErrorCode.UNAVAILABLE, acceptor: id },
      message(err instanceof AcceptorFencedError ? "does not hold its registered state"
        : "is unreachable"));
  }
}
