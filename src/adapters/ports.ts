import type { AcceptorState } from "../core/acceptor.js";
import type {
  MsgAccept, MsgAccepted, MsgNack, MsgPrepare, MsgPromise,
} from "../core/messages.js";

/**
 * An acceptor's durable state in its own store. Each transition is atomic and durable
 * before the promise resolves: the acceptor replies only after that.
 */
export interface AcceptorStore {
  /** The acceptor ID whose state this store holds. */
  readonly acceptorId: string;
  prepare(msg: MsgPrepare): Promise<MsgPromise | MsgNack>;
  accept(msg: MsgAccept): Promise<MsgAccepted | MsgNack>;
  /** A batch in one atomic, durable step (group commit); one reply per message, in order. */
  prepareMany(msgs: readonly MsgPrepare[]): Promise<(MsgPromise | MsgNack)[]>;
  acceptMany(msgs: readonly MsgAccept[]): Promise<(MsgAccepted | MsgNack)[]>;
  /** The state of one key, without changing it. */
  read(key: string): Promise<AcceptorState>;
  /**
   * Keys this acceptor accepted at least `minAgeSeconds` ago and has not seen announced on
   * the chosen stream: the work list of the repair that makes every chosen value reach it.
   */
  unannounced(minAgeSeconds: number, offset: number, count: number): Promise<string[]>;
  markAnnounced(keys: readonly string[]): Promise<void>;
  /** The acceptor ID this store was claimed by, or null when never claimed (new or wiped). */
  identity(): Promise<string | null>;
  /** Marks the store as this acceptor's (only if unclaimed). */
  claimIdentity(): Promise<void>;
  /** Every key this acceptor holds state for (anti-entropy); cursor "0" starts and ends. */
  scanKeys(cursor: string, count: number): Promise<KeyPage>;
  /** Whether a crash of the store can lose an acknowledged write. */
  durability(): Promise<Durability>;
  close(): Promise<void>;
}

export interface Durability {
  readonly appendonly: boolean;
  readonly appendfsync: string;
  /** True only with `appendonly yes` and `appendfsync always`. */
  readonly durable: boolean;
}

/** One page of a cursor scan. */
export interface KeyPage {
  readonly cursor: string;
  readonly keys: readonly string[];
}
