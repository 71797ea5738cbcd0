import type { NatsConnection } from "@nats-io/transport-node";
import { decodeJson } from "../adapters/nats/connection.js";
import { quorumSize } from "../core/quorum.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { paxosFreshSubject, paxosListSubject } from "../protocol/subjects.js";
import {
  FreshReplySchema, ListReplySchema, LIST_PAGE_MAX, WIRE_VERSION,
} from "../protocol/wire.js";
import type { Learned } from "./learner-role.js";

export interface RebuildReport {
  /** Acceptors whose whole key list was read (at least a majority). */
  readonly acceptorsListed: readonly string[];
  readonly keysListed: number;
  /** Keys the replica lacked and now holds. */
  readonly learned: number;
  /** Keys some acceptor holds but no value is chosen for (a majority holds nothing). */
  readonly notChosen: number;
  /** Keys that could not be resolved now (no quorum answered); a later rebuild retries them. */
  readonly failed: number;
}

export interface RebuildDeps {
  readonly acceptors: readonly string[];
  /** Every key one acceptor holds state for. */
  readonly listKeys: (acceptorId: string) => Promise<readonly string[]>;
  readonly has: (key: string) => boolean;
  readonly resolve: (key: string) => Promise<Learned | null>;
  readonly learn: (learned: Learned) => void;
  readonly concurrency?: number;
}

/**
 * Anti-entropy: rebuilds a replica from the acceptors, not the stream (JetStream may ack
 * before fsync). A chosen value was accepted by a majority, and any two majorities share an
 * acceptor, so the keys listed by any majority include every chosen key; each key the replica
 * lacks is then resolved by a quorum read (and read repair when undecided).
 */
export async function rebuildReplica(deps: RebuildDeps): Promise<RebuildReport> {
  const { listed, keys } = await listMajorityKeys(deps.acceptors, deps.acceptors,
    deps.listKeys, "a rebuild");
  const missing = [...keys].filter((key) => !deps.has(key));
  let learned = 0;
  let notChosen = 0;
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < missing.length) {
      const key = missing[next++] as string;
      try {
        const found = await deps.resolve(key);
        if (found === null) notChosen++;
        else {
          deps.learn(found);
          learned++;
        }
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: deps.concurrency ?? 32 }, worker));
  return { acceptorsListed: listed, keysListed: keys.size, learned, notChosen, failed };
}

/**
 * The union of the keys that `asked` hold (acceptors of the set `all`), listed at once; fails
 * with UNAVAILABLE unless at least `needed` (default a majority of `all`) answered.
 */
export async function listMajorityKeys(
  all: readonly string[], asked: readonly string[],
  listKeys: (acceptorId: string) => Promise<readonly string[]>, what: string,
  needed = quorumSize(all.length),
): Promise<{ listed: string[]; keys: Set<string> }> {
  const listings = await Promise.allSettled(asked.map((id) => listKeys(id)));
  const listed = asked.filter((_id, i) => listings[i]?.status === "fulfilled");
  if (listed.length < needed) {
    throw new PaxosKvError(ErrorCode.UNAVAILABLE, `only ${listed.length} of ${asked.length} ` +
      `acceptors listed their keys; ${what} needs ${needed} of the ${all.length}`);
  }
  const keys = new Set<string>();
  for (const listing of listings) {
    if (listing.status === "fulfilled") for (const key of listing.value) keys.add(key);
  }
  return { listed, keys };
}

/** Pages through one acceptor's keys over NATS. */
export async function listAcceptorKeys(
  nc: NatsConnection, prefix: string, acceptorId: string, timeoutMs: number,
): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const msg = await nc.request(paxosListSubject(prefix, acceptorId),
      JSON.stringify({ v: WIRE_VERSION, cursor, count: LIST_PAGE_MAX }), { timeout: timeoutMs });
    const page = ListReplySchema.parse(decodeJson(msg.data));
    keys.push(...page.keys);
    cursor = page.cursor;
  } while (cursor !== "0");
  return keys;
}

/**
 * One other acceptor's keys for a recovery (a rejoin, a new store's first claim): its listing
 * while it votes, or nothing when it answers that it is a new store itself (empty, unmarked,
 * unregistered: it never voted, so it holds nothing a recovery needs). This is how a new
 * cluster's empty acceptors recover from each other at once.
 */
export async function listKeysForRecovery(
  nc: NatsConnection, prefix: string, acceptorId: string, timeoutMs: number,
): Promise<string[]> {
  const fresh = async (): Promise<string[]> => {
    const msg = await nc.request(paxosFreshSubject(prefix, acceptorId), "", { timeout: timeoutMs });
    const reply = FreshReplySchema.parse(decodeJson(msg.data));
    if (!reply.fresh) throw new Error(`acceptor ${acceptorId} is not a new store`);
    return [];
  };
  return Promise.any([listAcceptorKeys(nc, prefix, acceptorId, timeoutMs), fresh()]);
}
