import type { NatsConnection } from "@nats-io/transport-node";
import { decodeJson } from "../../adapters/nats/connection.js";
import { quorumSize } from "../../core/quorum.js";
import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import { paxosFreshSubject, paxosListSubject } from "../../protocol/subjects.js";
import {
  FreshReplySchema, ListReplySchema, LIST_PAGE_MAX, WIRE_VERSION,
} from "../../protocol/wire.js";
import type { KeyPage } from "../../adapters/ports.js";
import type { Learned } from "../roles/learner-role.js";

export interface RebuildReport {
  /** Acceptors whose whole key list was read (at least a majority). */
  readonly acceptorsListed: readonly string[];
  /** Keys listed, once per acceptor that listed them (this rebuild's pages only). */
  readonly keysListed: number;
  /** Keys the replica lacked and now holds. */
  readonly learned: number;
  /** Keys some acceptor holds but no value is chosen for (a majority holds nothing). */
  readonly notChosen: number;
  /** Keys that could not be resolved now (no quorum answered); a later rebuild retries them. */
  readonly failed: number;
  /** It went on from where an unfinished rebuild stopped. */
  readonly resumed: boolean;
}

/** Where an unfinished rebuild stopped: the acceptors fully listed, and a page cursor. */
export interface RebuildPosition {
  readonly done: readonly string[];
  readonly acceptor: string | null;
  readonly cursor: string;
}

export interface RebuildDeps {
  readonly acceptors: readonly string[];
  /** One page of the keys one acceptor holds; cursor "0" starts, a reply cursor "0" ends. */
  readonly listPage: (acceptorId: string, cursor: string) => Promise<KeyPage>;
  /** The keys this replica keeps (a partial replica's filter). */
  readonly wanted: (key: string) => boolean;
  readonly has: (key: string) => boolean;
  readonly resolve: (key: string) => Promise<Learned | null>;
  readonly learn: (learned: Learned) => void;
  /** Kept with the replica after each page, so a rebuild that stops is resumed, not redone. */
  readonly position: {
    load(): RebuildPosition | null;
    save(position: RebuildPosition | null): void;
  };
  readonly concurrency?: number;
  /**
   * The periodic pass lists at most this many keys a second (it waits after a page that ran
   * ahead), so its cost per second stays flat as keys grow and only its length grows with
   * them. A rebuild asked for runs unpaced (absent).
   */
  readonly pace?: {
    readonly keysPerSecond: number;
    /** True once someone asked for a rebuild while this paced one runs: it stops waiting. */
    readonly lifted?: () => boolean;
    readonly now?: () => number;
    readonly sleep?: (ms: number) => Promise<void>;
  };
}

/**
 * Anti-entropy: rebuilds a replica from the acceptors, not the stream (JetStream may ack
 * before fsync). A chosen value was accepted by a majority, and any two majorities share an
 * acceptor, so the keys listed by any majority include every chosen key; each key the replica
 * lacks is then resolved by a quorum read (and read repair when undecided).
 *
 * It streams: one acceptor at a time, one page of keys at a time (LIST_PAGE_MAX), so its
 * memory is a page whatever the number of keys, and it stops once a majority was listed in
 * full. Its position is saved after each page: a rebuild that fails (a majority did not
 * answer) or whose process stops is resumed by the next one, from that page.
 */
export async function rebuildReplica(deps: RebuildDeps): Promise<RebuildReport> {
  const quorum = quorumSize(deps.acceptors.length);
  const resumeAt = deps.position.load();
  const done = new Set((resumeAt?.done ?? []).filter((id) => deps.acceptors.includes(id)));
  let keysListed = 0;
  let learned = 0;
  let notChosen = 0;
  let failed = 0;
  const resolvePage = async (keys: readonly string[]): Promise<void> => {
    const missing = keys.filter((key) => deps.wanted(key) && !deps.has(key));
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        const key = missing[next++] as string;
        try {
          const found = await deps.resolve(key);
          if (found === null) notChosen++;
          else if (!deps.has(key)) {
            deps.learn(found);
            learned++;
          }
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: deps.concurrency ?? 32 }, worker));
  };

  const paceAfterPage = pacer(deps.pace);
  const unreachable: string[] = [];
  for (const id of deps.acceptors) {
    if (done.size >= quorum) break;
    if (done.has(id)) continue;
    let cursor = resumeAt?.acceptor === id ? resumeAt.cursor : "0";
    try {
      do {
        const page = await deps.listPage(id, cursor);
        keysListed += page.keys.length;
        await resolvePage(page.keys);
        cursor = page.cursor;
        deps.position.save({ done: [...done], acceptor: cursor === "0" ? null : id, cursor });
        await paceAfterPage(keysListed);
      } while (cursor !== "0");
      done.add(id);
      deps.position.save({ done: [...done], acceptor: null, cursor: "0" });
    } catch {
      unreachable.push(id);
    }
  }
  if (done.size < quorum) {
    throw new PaxosKvError(ErrorCode.UNAVAILABLE, `only ${done.size} of ` +
      `${deps.acceptors.length} acceptors listed their keys (${unreachable.join(", ")} did not ` +
      `answer); a rebuild needs ${quorum}: the next one resumes where this one stopped`);
  }
  deps.position.save(null);
  return {
    acceptorsListed: deps.acceptors.filter((id) => done.has(id)), keysListed, learned,
    notChosen, failed, resumed: resumeAt !== null,
  };
}

/** Waits after a page until `keysListed` keys are no more than the pace allows so far. */
function pacer(pace: RebuildDeps["pace"]): (keysListed: number) => Promise<void> {
  if (pace === undefined) return () => Promise.resolve();
  const now = pace.now ?? (() => performance.now());
  const sleep = pace.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  return async (keysListed) => {
    if (pace.lifted?.() === true) return;
    const due = started + (keysListed / pace.keysPerSecond) * 1000;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
  };
}

/** One page of one acceptor's keys over NATS. */
export async function listAcceptorPage(
  nc: NatsConnection, prefix: string, acceptorId: string, cursor: string, timeoutMs: number,
): Promise<KeyPage> {
  const msg = await nc.request(paxosListSubject(prefix, acceptorId),
    JSON.stringify({ v: WIRE_VERSION, cursor, count: LIST_PAGE_MAX }), { timeout: timeoutMs });
  return ListReplySchema.parse(decodeJson(msg.data));
}

/** Every key of one acceptor, page by page (a rejoin, which restores them all). */
export async function listAcceptorKeys(
  nc: NatsConnection, prefix: string, acceptorId: string, timeoutMs: number,
): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const page = await listAcceptorPage(nc, prefix, acceptorId, cursor, timeoutMs);
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
