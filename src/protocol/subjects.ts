/** Subject names of the public contract (DESIGN.md) and of the internal Paxos traffic. */
import { keyMatches } from "./trace.js";

export const DEFAULT_PREFIX = "paxoskv";
export const KEY_BYTES_MAX = 255;
export const CHOSEN_STREAM = "PAXOSKV_CHOSEN";

const KEY_TOKEN = /^[A-Za-z0-9_\-=:]+$/;

/** Public operations; each takes the key as the rest of the subject. */
export const Operation = {
  create: "create",
  get: "get",
  replicaGet: "replica-get",
  chosen: "chosen",
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

export function publicSubject(prefix: string, op: Operation, key: string): string {
  return `${prefix}.${op}.${key}`;
}

/** The wildcard an endpoint listens on, e.g. `paxoskv.create.>`. */
export function publicWildcard(prefix: string, op: Operation): string {
  return `${prefix}.${op}.>`;
}

/**
 * Where the chosen log's batches go: one subject per announcing node, a bounded set however
 * many keys there are (per-key subjects cost every NATS server of the stream state per key).
 * Not under `paxos.>`: the shipped NATS configuration lets clients publish only
 * create/get/replica-get, so only nodes can write here either way.
 */
export function logSubject(prefix: string, announcer: string): string {
  return `${prefix}.log.${announcer}`;
}

export function logWildcard(prefix: string): string {
  return `${prefix}.log.>`;
}

/** The key part of a public subject, or null when the subject is not under `prefix.op.`. */
export function keyOfSubject(prefix: string, op: Operation, subject: string): string | null {
  const head = `${prefix}.${op}.`;
  return subject.startsWith(head) ? subject.slice(head.length) : null;
}

/**
 * The whole rule as one pattern, for the hot path (every create and every Paxos message item):
 * tokens of the class joined by single dots. Its characters are ASCII, so bytes = length.
 */
const VALID_KEY = /^[A-Za-z0-9_\-=:]+(?:\.[A-Za-z0-9_\-=:]+)*$/;

/** Why a key is invalid, or null when it is valid. One place for the rule (nats.js kv style). */
export function validateKey(key: string): string | null {
  if (key.length <= KEY_BYTES_MAX && VALID_KEY.test(key)) return null;
  if (key.length === 0) return "the key is empty";
  if (Buffer.byteLength(key, "utf8") > KEY_BYTES_MAX) {
    return `the key is over ${KEY_BYTES_MAX} bytes`;
  }
  for (const token of key.split(".")) {
    if (!KEY_TOKEN.test(token)) {
      return `key token ${JSON.stringify(token)} must be non-empty and use only A-Z a-z 0-9 _ - = :`;
    }
  }
  return null;
}

/** Internal Paxos subjects: only cluster nodes may publish under `prefix.paxos.>`. */
export const PaxosVerb = { prepare: "prepare", accept: "accept", read: "read" } as const;
export type PaxosVerb = (typeof PaxosVerb)[keyof typeof PaxosVerb];

export function paxosSubject(prefix: string, verb: PaxosVerb): string {
  return `${prefix}.paxos.${verb}`;
}

/** Where acceptors send replies for one proposer process; inside `paxos.>` so clients can't forge them. */
export function paxosReplySubject(prefix: string, nodeId: string, instance: string): string {
  return `${prefix}.paxos.reply.${nodeId}.${instance}`;
}

/** Lists the keys one acceptor holds (anti-entropy); answered by one process of that ID. */
export function paxosListSubject(prefix: string, acceptorId: string): string {
  return `${prefix}.paxos.list.${acceptorId}`;
}

/**
 * Asks whether acceptor `acceptorId` is a new store (empty, unregistered, never voted): a
 * recovering acceptor counts that answer as an empty key list (a new cluster's bootstrap).
 */
export function paxosFreshSubject(prefix: string, acceptorId: string): string {
  return `${prefix}.paxos.fresh.${acceptorId}`;
}

/** Asks every learner to rebuild its replica from the acceptors. */
export function paxosRebuildSubject(prefix: string): string {
  return `${prefix}.paxos.rebuild`;
}

/** Asks the refused acceptor `acceptorId` to rejoin (`paxoskv acceptor rejoin`). */
export function paxosRejoinSubject(prefix: string, acceptorId: string): string {
  return `${prefix}.paxos.rejoin.${acceptorId}`;
}

/** Each acceptor ID is one queue group: every acceptor gets one copy, one process answers it. */
export function acceptorQueue(acceptorId: string): string {
  return `acceptor-${acceptorId}`;
}

/** Every node answers with its status (`paxoskv status`); no queue group. */
export function paxosStatusSubject(prefix: string): string {
  return `${prefix}.paxos.status`;
}

/** Each acceptor's process says every few seconds whether it votes (see `status.ts`). */
export function paxosVotingSubject(prefix: string, acceptorId: string): string {
  return `${prefix}.paxos.voting.${acceptorId}`;
}

/** All keys: the default of PAXOSKV_REPLICA_KEYS. */
export const ALL_KEYS = ">";

/**
 * Why `filter` is not a NATS subject filter over keys (`orders.>`, `*.eu`, `>`), or null:
 * tokens of the key class, `*` for one token, `>` last for one or more.
 */
export function validateKeyFilter(filter: string): string | null {
  const tokens = filter.split(".");
  for (const [i, token] of tokens.entries()) {
    if (token === "*" || (token === ">" && i === tokens.length - 1)) continue;
    if (token === ">") return "> may only be the last token";
    if (!KEY_TOKEN.test(token)) {
      return `token ${JSON.stringify(token)} must be *, > or use only A-Z a-z 0-9 _ - = :`;
    }
  }
  return filter.length > KEY_BYTES_MAX ? `over ${KEY_BYTES_MAX} bytes` : null;
}

/** Whether `key` matches the subject filter `filter` as NATS matches subjects. */
export function keyMatchesFilter(filter: string, key: string): boolean {
  return filter === ALL_KEYS || keyMatches(filter, key);
}
