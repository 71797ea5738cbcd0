import type { AcceptorState } from "../core/acceptor.js";
import type { Chosen, LearnResult } from "../core/learner.js";
import type {
  MsgAccept, MsgAccepted, MsgNack, MsgPrepare, MsgPromise,
} from "../core/messages.js";
import { ErrorCode } from "../protocol/codes.js";

/**
 * What answering Paxos messages needs of an acceptor's store: the transitions, each atomic and
 * durable before its promise resolves (the acceptor replies only after that), fenced by the
 * incarnation it serves as.
 */
export interface AcceptorVotingStore {
  /** The acceptor ID whose state this store holds. */
  readonly acceptorId: string;
  prepare(msg: MsgPrepare): Promise<MsgPromise | MsgNack | null>;
  accept(msg: MsgAccept): Promise<MsgAccepted | MsgNack | null>;
  /**
   * A batch in one atomic, durable step per part of the store (group commit); one reply per
   * message, in order. Null: the part holding that key refused (a Redis Cluster shard that
   * lost its state): no answer for that key, while the other keys still vote.
   */
  prepareMany(msgs: readonly MsgPrepare[]): Promise<(MsgPromise | MsgNack | null)[]>;
  acceptMany(msgs: readonly MsgAccept[]): Promise<(MsgAccepted | MsgNack | null)[]>;
  /** The state of one key, without changing it; null as in `prepareMany`. */
  read(key: string): Promise<AcceptorState | null>;
  /**
   * From now on every transition and read requires the marker to equal `incarnation` (null:
   * refuse all) and fails with AcceptorFencedError otherwise, so a store wiped under a running
   * node stops voting at its next message.
   */
  serveAs(incarnation: string | null): void;
}

/**
 * What keeping an acceptor's store needs besides voting: its identity (claims, rejoins,
 * rollback detection), the repair of announcements, anti-entropy listings and health.
 */
export interface AcceptorMaintenanceStore {
  readonly acceptorId: string;
  /**
   * Keys this acceptor accepted at least `minAgeSeconds` ago and has not seen announced on
   * the chosen stream: the work list of the repair that makes every chosen value reach it.
   */
  unannounced(minAgeSeconds: number, offset: number, count: number): Promise<string[]>;
  markAnnounced(keys: readonly string[]): Promise<void>;
  /**
   * The incarnation marker: a random ID written when the store was first claimed (and again by
   * a rejoin). Null for a new store, and for one that lost its data.
   */
  incarnation(): Promise<string | null>;
  /**
   * Writes `candidate` as the marker unless one exists; returns the marker held now. Only a
   * single Redis has it: its state may predate markers. A store of many parts never holds state
   * without markers but when it lost them (or a rejoin is half done), so it adopts nothing and
   * is marked by a rejoin's `restore` alone.
   */
  adoptIncarnation?(candidate: string): Promise<string>;
  /**
   * Each part of the store: its marker and how many transitions changed it (a counter the
   * scripts bump with each write, in the same script; 0 for a store written before the
   * counter existed). A counter never goes down, except when its part is rolled back (a backup
   * restored, a replica promoted) or cleared by a rejoin. One Redis is one part; a Redis
   * Cluster store has one part per bucket of keys (`BUCKET_COUNT`), each fenced on its own.
   */
  parts(): Promise<readonly StorePart[]>;
  /**
   * Replaces the marker `incarnation` by `replacement` (never registered), if it still holds:
   * the store is then refused by every script. False when the marker was something else.
   */
  retireIncarnation(incarnation: string, replacement: string): Promise<boolean>;
  /** Whether the store holds state for any Paxos key. */
  holdsState(): Promise<boolean>;
  /** Deletes everything this acceptor keeps (a rejoin starts from nothing). */
  clear(): Promise<void>;
  /** Writes recovered key states, then the marker `incarnation` (a rejoin's last steps). */
  restore(entries: readonly RestoredKey[], incarnation: string): Promise<void>;
  /** A store of many parts (a Redis Cluster store): the part that holds `key`. */
  partOf?(key: string): number;
  /**
   * A store of many parts: reserves lost `parts` for one heal, before it raises their marks, so
   * that a second heal of any of them (another process, a retry) refuses instead of raising
   * them again (which would leave the first heal's counters behind their registered marks).
   * Answers the heal's nonce; throws, keeping nothing, when one is reserved or marked already.
   */
  claimParts?(parts: readonly number[]): Promise<string>;
  /** Frees what `claimParts` reserved and the heal did not mark (it failed). */
  releaseParts?(parts: readonly number[], nonce: string): Promise<void>;
  /**
   * A store of many parts: installs recovered states into `parts` (which lost their state),
   * then marks each with `incarnation` and a write counter at least its mark in `marks`, each
   * part only while it has no marker (and, given the `nonce` of `claimParts`, while it is still
   * reserved for this heal). Answers the parts it marked.
   */
  restoreParts?(entries: readonly RestoredKey[], parts: readonly number[], incarnation: string,
    marks: readonly number[], nonce?: string): Promise<number[]>;
  /**
   * A store of many parts: deletes the marker of every part that may have lost keys: one whose
   * keys were being moved between two shards when one of them went away (an interrupted
   * reshard), and one whose shard holds fewer or more keys than the part counted (a shard wiped
   * and back under the same identity). Those parts are then lost and heal by a rejoin.
   * Answers them.
   */
  fenceIncompleteParts?(): Promise<number[]>;
  /** Every key this acceptor holds state for (anti-entropy); cursor "0" starts and ends. */
  scanKeys(cursor: string, count: number): Promise<KeyPage>;
  /** Whether a crash of the store can lose an acknowledged write. */
  durability(): Promise<Durability>;
  close(): Promise<void>;
}

/** An acceptor's store: both ports, as one Redis (or one test double) provides them. */
export interface AcceptorStore extends AcceptorVotingStore, AcceptorMaintenanceStore {}

export interface Durability {
  readonly appendonly: boolean;
  readonly appendfsync: string;
  /** True only with `appendonly yes` and `appendfsync always`. */
  readonly durable: boolean;
  /** The store's server version (`redis_version`), for operators; "unknown" when not said. */
  readonly version: string;
}

/**
 * The store is not the registered state of its acceptor (wiped, replaced, or not yet claimed):
 * it refused to vote. The node stops its acceptor role until the state is claimed or rejoined.
 */
export class AcceptorFencedError extends Error {
  override readonly name = "AcceptorFencedError";
  readonly code = ErrorCode.UNAVAILABLE;
}

/** One part of an acceptor's store (see `AcceptorMaintenanceStore.parts`). */
export interface StorePart {
  /** Its incarnation marker; null when it lost it (a wiped or replaced shard). */
  readonly marker: string | null;
  readonly writes: number;
  /**
   * Its shard did not answer (a primary down): marker and writes are unknown (null, 0); it is
   * neither lost nor behind, and it keeps its recorded mark until it answers again.
   */
  readonly unreadable?: true;
}

/** One key's state as a rejoin recovered it. */
export interface RestoredKey {
  readonly key: string;
  readonly state: AcceptorState;
}

/** One page of a cursor scan. */
export interface KeyPage {
  readonly cursor: string;
  readonly keys: readonly string[];
}

/**
 * A learner's replica in its own store (on disk: the V8 heap holds none of it). Every
 * `apply` is one transaction, so the values and the stream sequence they came from are
 * recorded together: a restarted learner resumes after `sequence` and has lost nothing before.
 */
export interface ReplicaStore {
  /** The chosen value held for `key`, if any. */
  get(key: string): Chosen | undefined;
  /** Up to `limit` values in key order after `after` (null: from the first): a page. */
  page(after: string | null, limit: number): Chosen[];
  /**
   * Applies `values` under the learner's rule (`decideLearn`: a second, different value for a
   * key is returned as a conflict and never stored) and, when given, records `sequence` as the
   * last stream message applied (it follows the stream: it may go back when the stream was
   * created anew), in one transaction. One result per value, in order.
   */
  apply(values: readonly Chosen[], sequence: number | null): LearnResult[];
  /** The last stream sequence applied (0: none yet). */
  readonly sequence: number;
  /**
   * Says which stream the sequence counts in (its identity); a stream other than the one
   * recorded (created anew) sets the sequence back to 0, in the same transaction.
   */
  follows(stream: string): void;
  /** How many keys it holds. */
  readonly size: number;
  /** A small named note kept with the replica (a rebuild's position), or null. */
  note(name: string): string | null;
  setNote(name: string, value: string | null): void;
  close(): void;
}
