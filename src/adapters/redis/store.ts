import { Redis, type RedisOptions } from "ioredis";
import { echoProposal, type AcceptorState } from "../../core/acceptor.js";
import { assert } from "../../core/assert.js";
import {
  ballot, ballotsEqual, compareBallots, isFastBallot, isValidNodeId, type Ballot,
} from "../../core/ballot.js";
import type {
  AcceptedProposal, MsgAccept, MsgAccepted, MsgNack, MsgPrepare, MsgPromise,
} from "../../core/messages.js";
import {
  AcceptorFencedError, type AcceptorStore, type Durability, type KeyPage, type RestoredKey,
  type StorePart,
} from "../ports.js";
import { ACCEPT_LUA, FENCED_ERROR, PREPARE_LUA, READ_LUA, RETIRE_LUA } from "./scripts.js";
import { ErrorCode } from "../../protocol/codes.js";

export interface RedisAcceptorStoreOptions {
  /** The acceptor whose state this store holds (a node ID). */
  readonly acceptorId: string;
  /** This acceptor's Redis, `redis://host:port[/db]`. */
  readonly url: string;
  /** Key prefix; hashes are `${prefix}:acc:${acceptorId}:${key}`. Default `paxoskv`. */
  readonly prefix?: string;
  /** A command without a reply after this long fails (a hung Redis). Default 5000. */
  readonly commandTimeoutMs?: number;
  /** Told about connection errors; ioredis keeps reconnecting on its own. */
  readonly onConnectionError?: (error: Error) => void;
  /** Told each time the connection is (again) ready for commands. */
  readonly onReady?: () => void;
  /** Extra ioredis options, applied last. */
  readonly redisOptions?: RedisOptions;
}

/** Redis failed or did not answer: to the acceptor this is "no reply", never a crash. */
export class RedisStoreError extends Error {
  override readonly name = "RedisStoreError";
  readonly code = ErrorCode.UNAVAILABLE;
  constructor(operation: string, key: string | null, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`redis ${operation}${key === null ? "" : ` of key ${key}`} failed: ${detail}`,
      { cause });
  }
}

/** Reconnect back-off: 50 ms doubling, capped so a recovered Redis is found within a second. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), 1000);
}

export type ScriptReply = readonly (string | null)[];

/** The client with the two scripts registered by `defineCommand` (called by EVALSHA). */
type ScriptedRedis = Redis & {
  /** numkeys, hash keys..., write counter, marker, then round, nodeId per key, incarnation. */
  paxoskvPrepare(...args: (string | number)[]): Promise<ScriptReply[]>;
  /** numkeys, hash keys..., unannounced set, write counter, marker, then round, nodeId, value,
   * key per key, incarnation. */
  paxoskvAccept(...args: (string | number)[]): Promise<ScriptReply[]>;
  /** 1, marker, expected incarnation, replacement. */
  paxoskvRetire(...args: (string | number)[]): Promise<number>;
  /** 3, hash key, write counter, marker, mark, incarnation. */
  paxoskvRead(...args: (string | number)[]): Promise<(string | null)[]>;
};

/**
 * Fenced reads of one acceptor's Redis: the connection with the scripts registered, the key
 * names, and the read script's reply parsed. The acceptor's store builds on it; a node that
 * reads the acceptors' Redis directly for its quorum reads uses it alone.
 */
export class RedisAcceptorReader {
  readonly acceptorId: string;
  readonly #prefix: string;
  protected readonly redis: ScriptedRedis;

  constructor(options: RedisAcceptorStoreOptions) {
    assert(isValidNodeId(options.acceptorId), `invalid acceptor ID: ${options.acceptorId}`);
    this.acceptorId = options.acceptorId;
    this.#prefix = options.prefix ?? "paxoskv";
    const redis = new Redis(options.url, {
      retryStrategy: reconnectDelayMs,
      // Commands issued while disconnected wait for at most two reconnect attempts, then fail:
      // the node treats a failure as "no reply" and the proposer retries elsewhere.
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      connectTimeout: 2000,
      // Off: it holds each command until setImmediate; with batches already one script call
      // each it cost ≈ 7 % more node CPU per create at 256 in flight, and ≈ 0.05 ms per read.
      enableAutoPipelining: false,
      ...options.redisOptions,
    });
    // Without a listener ioredis prints every reconnect failure; the node logs them instead.
    redis.on("error", (error: Error) => options.onConnectionError?.(error));
    redis.on("ready", () => options.onReady?.());
    // The number of keys varies with the batch, so it is the first argument of each call.
    redis.defineCommand("paxoskvPrepare", { lua: PREPARE_LUA });
    redis.defineCommand("paxoskvAccept", { lua: ACCEPT_LUA });
    redis.defineCommand("paxoskvRead", { lua: READ_LUA });
    redis.defineCommand("paxoskvRetire", { lua: RETIRE_LUA });
    this.redis = redis as ScriptedRedis;
  }

  /** The Redis key of one Paxos key's hash (built here, passed to scripts in KEYS). */
  hashKey(key: string): string {
    return `${this.keyPrefix}${key}`;
  }

  protected get keyPrefix(): string {
    return `${this.#prefix}:acc:${this.acceptorId}:`;
  }

  /** `~` never occurs in a Paxos key, so the marker cannot collide with a key's hash. */
  protected get markerKey(): string {
    return `${this.keyPrefix}~incarnation`;
  }

  /**
   * The write counter the scripts bump: one per store here; a Redis Cluster store keeps one
   * per bucket, in the bucket's slot (`cluster-store.ts`).
   */
  protected get writesKey(): string {
    return `${this.keyPrefix}~writes`;
  }

  /**
   * The state of one key if the store's marker is `incarnation` (the one registered for the
   * acceptor); AcceptorFencedError otherwise, RedisStoreError when Redis fails.
   */
  async readFenced(key: string, incarnation: string, mark = 0): Promise<AcceptorState> {
    return stateOf(key, await this.call("read", key,
      () => this.redis.paxoskvRead(3, this.hashKey(key), this.writesKey, this.markerKey,
        String(mark), incarnation)));
  }

  /**
   * Whether this Redis is a node of a Redis Cluster (`cluster_enabled:1`): it then holds only
   * some of an acceptor's keys, in the cluster store's layout, which this reader cannot read.
   * False when INFO is refused (an ACL without it): no cluster store's user.
   */
  async isClusterNode(): Promise<boolean> {
    const info = await this.redis.info("cluster").catch(() => "");
    return /cluster_enabled:1/.test(info);
  }

  /** True while connected (commands go out now rather than fail or wait). */
  get ready(): boolean {
    return this.redis.status === "ready";
  }

  /** Resolves true once connected, false if not within `timeoutMs`. */
  async connected(timeoutMs: number): Promise<boolean> {
    if (this.ready) return true;
    return new Promise((resolve) => {
      const ready = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.redis.off("ready", ready);
        resolve(false);
      }, timeoutMs);
      this.redis.once("ready", ready);
    });
  }

  /** Waits for replies to commands already sent, then disconnects. */
  async close(): Promise<void> {
    if (this.redis.status === "ready") {
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }

  /** Every Redis failure becomes a RedisStoreError, a refusal an AcceptorFencedError. */
  protected async call<T>(operation: string, key: string | null, run: () => Promise<T>):
    Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof Error && error.message.startsWith(FENCED_ERROR)) {
        throw new AcceptorFencedError(`acceptor ${this.acceptorId}: ${error.message}`);
      }
      throw new RedisStoreError(operation, key, error);
    }
  }
}

/**
 * An acceptor's Paxos state in Redis: one hash per key, each transition one Lua script.
 * Any number of store instances (processes) for the same acceptor may share one Redis; the
 * scripts are the only writers, so their atomicity is all the coordination needed.
 */
export class RedisAcceptorStore extends RedisAcceptorReader implements AcceptorStore {
  /** The incarnation the scripts require in the marker; "" (never stored) refuses all. */
  #servingAs = "";

  /** `~` never occurs in a Paxos key, so this set cannot collide with a key's hash. */
  get #unannouncedKey(): string {
    return `${this.keyPrefix}~unannounced`;
  }

  async unannounced(minAgeSeconds: number, offset: number, count: number): Promise<string[]> {
    return this.call("ZRANGEBYSCORE", null, async () => {
      const [seconds] = await this.redis.time();
      return this.redis.zrangebyscore(this.#unannouncedKey, "-inf",
        Number(seconds) - minAgeSeconds, "LIMIT", offset, count);
    });
  }

  async markAnnounced(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.call("ZREM", null, () => this.redis.zrem(this.#unannouncedKey, ...keys));
  }

  async incarnation(): Promise<string | null> {
    return this.call("GET", null, () => this.redis.get(this.markerKey));
  }

  async adoptIncarnation(candidate: string): Promise<string> {
    return this.call("SET", null, async () => {
      await this.redis.set(this.markerKey, candidate, "NX");
      return (await this.redis.get(this.markerKey)) ?? candidate;
    });
  }

  async parts(): Promise<readonly StorePart[]> {
    const [marker, writes] = await this.call("MGET", null,
      () => this.redis.mget(this.markerKey, this.writesKey));
    return [{ marker: marker ?? null, writes: writes == null ? 0 : Number(writes) }];
  }

  async retireIncarnation(incarnation: string, replacement: string): Promise<boolean> {
    return (await this.call("retire", null,
      () => this.redis.paxoskvRetire(1, this.markerKey, incarnation, replacement))) === 1;
  }

  serveAs(incarnation: string | null): void {
    this.#servingAs = incarnation ?? "";
  }

  async holdsState(): Promise<boolean> {
    let cursor = "0";
    do {
      const page = await this.scanKeys(cursor, 1000);
      if (page.keys.length > 0) return true;
      cursor = page.cursor;
    } while (cursor !== "0");
    return false;
  }

  async clear(): Promise<void> {
    const pattern = `${this.keyPrefix}*`;
    let cursor = "0";
    do {
      const [next, names] = await this.call("SCAN", null,
        () => this.redis.scan(cursor, "MATCH", pattern, "COUNT", 1000));
      if (names.length > 0) await this.call("DEL", null, () => this.redis.del(...names));
      cursor = next;
    } while (cursor !== "0");
  }

  async restore(entries: readonly RestoredKey[], incarnation: string): Promise<void> {
    const [seconds] = await this.call("TIME", null, () => this.redis.time());
    for (let i = 0; i < entries.length; i += 500) {
      const batch = this.redis.pipeline(); // not MULTI: the ACL needs no @transaction
      for (const { key, state } of entries.slice(i, i + 500)) {
        const fields = restoredFields(state);
        // Announced by the repair if no learner has it yet.
        if (state.accepted !== null) batch.zadd(this.#unannouncedKey, Number(seconds), key);
        batch.del(this.hashKey(key));
        if (fields.length > 0) batch.hset(this.hashKey(key), ...fields);
      }
      const results = await this.call("restore", null, () => batch.exec());
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (failed) throw new RedisStoreError("restore", null, failed);
    }
    // Last, so a restore cut short leaves a store that is still refused.
    await this.call("SET", null, () => this.redis.set(this.markerKey, incarnation));
  }

  async scanKeys(cursor: string, count: number): Promise<KeyPage> {
    // While serving, a wiped store must not list "nothing" as if it held nothing (a rebuild or
    // a rejoin counts the listing); before serving (the claim looks for state) it may.
    if (this.#servingAs !== "" && await this.incarnation() !== this.#servingAs) {
      throw new AcceptorFencedError(`acceptor ${this.acceptorId}: ${FENCED_ERROR} its Redis ` +
        "no longer holds the registered state");
    }
    const prefix = this.keyPrefix;
    const [next, names] = await this.call("SCAN", null,
      () => this.redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", count));
    const keys = names.map((name) => name.slice(prefix.length)).filter((k) => !k.startsWith("~"));
    return { cursor: next, keys };
  }

  async prepare(msg: MsgPrepare): Promise<MsgPromise | MsgNack> {
    return only(await this.prepareMany([msg]));
  }

  async accept(msg: MsgAccept): Promise<MsgAccepted | MsgNack> {
    return only(await this.acceptMany([msg]));
  }

  /** Prepares a batch in one script call: one round trip and one fsync for all of it. */
  async prepareMany(msgs: readonly MsgPrepare[]): Promise<(MsgPromise | MsgNack)[]> {
    const keys = [...msgs.map((m) => this.hashKey(m.key)), this.writesKey, this.markerKey];
    const args = [...msgs.flatMap((m) => ballotArgs(m.ballot)), this.#servingAs];
    const replies = await this.call("prepare", batchName(msgs),
      () => this.redis.paxoskvPrepare(keys.length, ...keys, ...args));
    assert(replies.length === msgs.length, "prepare batch reply has the wrong length");
    return msgs.map((msg, i) => promiseOf(this.acceptorId, msg, replies[i] ?? []));
  }

  /** Accepts a batch in one script call: one round trip and one fsync for all of it. */
  async acceptMany(msgs: readonly MsgAccept[]): Promise<(MsgAccepted | MsgNack)[]> {
    const keys = [...msgs.map((m) => this.hashKey(m.key)), this.#unannouncedKey, this.writesKey,
      this.markerKey];
    const args = [...msgs.flatMap((m) => [...ballotArgs(m.ballot), m.value, m.key]),
      this.#servingAs];
    const replies = await this.call("accept", batchName(msgs),
      () => this.redis.paxoskvAccept(keys.length, ...keys, ...args));
    assert(replies.length === msgs.length, "accept batch reply has the wrong length");
    return msgs.map((msg, i) => acceptedOf(this.acceptorId, msg, replies[i] ?? []));
  }

  async read(key: string): Promise<AcceptorState> {
    return this.readFenced(key, this.#servingAs);
  }

  async durability(): Promise<Durability> {
    const [appendonly, appendfsync, server] = await Promise.all([
      this.#config("appendonly"), this.#config("appendfsync"),
      this.call("INFO", null, () => this.redis.info("server")),
    ]);
    const aof = appendonly === "yes";
    const version = /redis_version:([^\r\n]+)/.exec(String(server))?.[1] ?? "unknown";
    return { appendonly: aof, appendfsync, durable: aof && appendfsync === "always", version };
  }

  async #config(name: string): Promise<string> {
    const reply = await this.call("CONFIG GET", null, () => this.redis.config("GET", name));
    const value = (reply as unknown[])[1];
    if (typeof value !== "string") {
      throw new RedisStoreError("CONFIG GET", null, new Error(`no setting ${name}`));
    }
    return value;
  }
}

/** A Prepare script reply as the core's message, with the pair assertions. */
export function promiseOf(acceptorId: string, msg: MsgPrepare, reply: ScriptReply):
  MsgPromise | MsgNack {
  const [kind, ...rest] = reply;
  if (kind === "nack") {
    const promised = decodeBallot(rest[0], rest[1]);
    // Pair assertion: the script refused, so it must hold a promise at or above n.
    assert(compareBallots(promised, msg.ballot) >= 0,
      `prepare nack below the ballot sent for key ${msg.key}`);
    return nackOf(acceptorId, msg, "prepare", promised);
  }
  assert(kind === "promise", `unexpected prepare reply: ${String(kind)}`);
  assert(ballotsEqual(decodeBallot(rest[0], rest[1]), msg.ballot),
    `promise does not echo the ballot sent for key ${msg.key}`);
  const accepted = rest.length > 2 ? decodeAccepted(rest[2], rest[3], rest[4]) : null;
  assert(accepted === null || compareBallots(accepted.ballot, msg.ballot) < 0,
    `promise answers with an accepted proposal at or above its ballot for key ${msg.key}`);
  return {
    type: "promise", key: msg.key, from: acceptorId, ballot: msg.ballot, accepted,
    ...echoProposal(msg),
  };
}

/** An Accept script reply as the core's message, with the pair assertions. */
export function acceptedOf(acceptorId: string, msg: MsgAccept, reply: ScriptReply):
  MsgAccepted | MsgNack {
  const [kind, ...rest] = reply;
  if (kind === "nack") {
    const promised = decodeBallot(rest[0], rest[1]);
    // Pair assertion: Accept(n) is refused only when something above n was promised, or
    // for the fast ballot, anything at all.
    assert(compareBallots(promised, msg.ballot) > 0 || isFastBallot(msg.ballot),
      `accept nack not above the ballot sent for key ${msg.key}`);
    return nackOf(acceptorId, msg, "accept", promised);
  }
  assert(kind === "accepted", `unexpected accept reply: ${String(kind)}`);
  assert(ballotsEqual(decodeBallot(rest[0], rest[1]), msg.ballot),
    `accepted does not echo the ballot sent for key ${msg.key}`);
  return {
    type: "accepted", key: msg.key, from: acceptorId, ballot: msg.ballot,
    ...echoProposal(msg),
  };
}

function nackOf(
  acceptorId: string, msg: MsgPrepare | MsgAccept, phase: MsgNack["phase"], promised: Ballot,
): MsgNack {
  return {
    type: "nack", key: msg.key, from: acceptorId, phase, ballot: msg.ballot, promised,
    ...echoProposal(msg),
  };
}

/** A read script reply (the hash fields in HASH_FIELDS order) as an acceptor state. */
export function stateOf(key: string, fields: readonly (string | null)[]): AcceptorState {
  const [pRound, pNode, aRound, aNode, value] = fields;
  const promised = pRound == null ? null : decodeBallot(pRound, pNode);
  const accepted = aRound == null ? null : decodeAccepted(aRound, aNode, value);
  assert(accepted === null || compareBallots(accepted.ballot, promised) <= 0,
    `accepted above promised for key ${key}`);
  return { promised, accepted };
}

/** The hash fields of a recovered state, for HSET (none for an empty state). */
export function restoredFields(state: AcceptorState): string[] {
  const fields: string[] = [];
  if (state.promised !== null) fields.push(...hashPair("promised", state.promised));
  if (state.accepted !== null) {
    fields.push(...hashPair("accepted", state.accepted.ballot),
      "accepted_value", state.accepted.value);
  }
  return fields;
}

/** The key named in an error: the only one, or how many. */
export function batchName(msgs: readonly { key: string }[]): string {
  return msgs.length === 1 ? (msgs[0]?.key ?? "") : `(batch of ${msgs.length})`;
}

function only<T>(items: readonly T[]): T {
  assert(items.length === 1 && items[0] !== undefined, "expected exactly one reply");
  return items[0];
}

/** The two hash fields of a ballot: `promised_round`, `promised_node` (or `accepted_`). */
function hashPair(field: "promised" | "accepted", b: Ballot): string[] {
  const [round, nodeId] = ballotArgs(b);
  return [`${field}_round`, round, `${field}_node`, nodeId];
}

export function ballotArgs(b: Ballot): [round: string, nodeId: string] {
  const checked = ballot(b.round, b.nodeId); // asserts a safe integer round and a valid ID
  return [String(checked.round), checked.nodeId];
}

function decodeBallot(
  round: string | null | undefined, nodeId: string | null | undefined,
): Ballot {
  assert(typeof round === "string" && /^\d+$/.test(round) && typeof nodeId === "string",
    `malformed ballot from redis: ${String(round)}.${String(nodeId)}`);
  return ballot(Number(round), nodeId);
}

function decodeAccepted(
  round: string | null | undefined, nodeId: string | null | undefined,
  value: string | null | undefined,
): AcceptedProposal {
  assert(typeof value === "string", "accepted proposal without a value in redis");
  return { ballot: decodeBallot(round, nodeId), value };
}
