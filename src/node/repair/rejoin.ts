import { randomUUID } from "node:crypto";
import type { Registration } from "../../adapters/jetstream/acceptor-registry.js";
import type { AcceptorStore, RestoredKey } from "../../adapters/ports.js";
import type { ProposalOutcome } from "../../core/proposer.js";
import { keysToRecover, listingsNeeded, recoveredState } from "../../core/rejoin.js";
import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import type { Logger } from "../infrastructure/logger.js";

export interface RejoinReport {
  readonly acceptor: string;
  /** The other acceptors whose key lists were read (at least a majority of all). */
  readonly acceptorsListed: readonly string[];
  readonly keys: number;
  /** Keys with a value, chosen again at the recovery ballot and installed as accepted. */
  readonly chosen: number;
  /** Keys where a majority had accepted nothing: installed as a promise only. */
  readonly empty: number;
  readonly incarnation: string;
  readonly ms: number;
  /** A rejoin of the lost parts only (`rejoinLostParts`): how many parts it healed. */
  readonly parts?: number;
}

export interface RejoinDeps {
  readonly store: AcceptorStore;
  readonly acceptors: readonly string[];
  /** Every key one acceptor holds state for. */
  readonly listKeys: (acceptorId: string) => Promise<readonly string[]>;
  /** Whether some process answers as this acceptor now (then a rejoin would make two). */
  readonly servedElsewhere: () => Promise<boolean>;
  /** A recovery proposal for one key (`ProposerDriver.recover`). */
  readonly recover: (key: string) => Promise<ProposalOutcome>;
  readonly registry: {
    get(acceptorId: string): Promise<Registration | null>;
    register(acceptorId: string, incarnation: string): Promise<boolean>;
    replace(acceptorId: string, incarnation: string, revision: number): Promise<boolean>;
    unregister(acceptorId: string, revision: number): Promise<boolean>;
  };
  /** Not before this time (ms, `now`'s clock): see the wait in `rejoin`. */
  readonly notBefore: number;
  /** The acceptors' registration lease and the phase timeout: see the wait in `rejoin`. */
  readonly leaseMs: number;
  readonly phaseTimeoutMs: number;
  readonly now?: () => number;
  readonly log: Logger;
  readonly concurrency?: number;
}

/** Attempts per key before the rejoin gives up (a retried rejoin starts over). */
const RECOVERY_ATTEMPTS = 5;

/**
 * Brings back an acceptor whose store lost its state, without letting it vote with amnesia.
 * While it runs the acceptor takes no Paxos messages; the other acceptors carry on.
 *
 * 1. Move the registration to a placeholder (compare-and-set), so no process of the old store
 *    can confirm its lease any more; then wait until `notBefore` (the moment the acceptor
 *    stopped voting plus twice the phase timeout) and until the lease plus a phase timeout
 *    have passed since the move. An acceptor answers only within its lease of its last
 *    confirmed registration, checked just before each reply leaves, so a paused old process
 *    sends nothing after the lease; a proposer counts no reply after its phase timed out, so
 *    by then every phase that counted one of the old store's answers has ended, and the
 *    partner promises it counted are in the other acceptors' stores. (An ID with no
 *    registration, a new store, has no lease to wait out.)
 * 2. List the keys of n - quorum + 1 of the others (with three acceptors: both others). A key
 *    the lost state mattered for is among them: a lost accept needed a majority's promises
 *    first, a lost promise only matters with a majority of promises, and such a majority
 *    holds at least quorum - 1 of the others, which the listing meets.
 * 3. For each key, a recovery proposal at a new ballot, sent while this acceptor is out: a
 *    majority of the others promises it (no older ballot can be accepted there after), and
 *    a value any of them accepted is chosen again at it. Installing that outcome here is what
 *    a healthy acceptor could hold: an accept of a chosen value, or a promise with nothing
 *    accepted where a majority accepted nothing below it.
 * 4. Install the states, then a new incarnation marker, then register it in place of the
 *    placeholder (compare-and-set): from then on this store is the acceptor's.
 */
export async function rejoin(deps: RejoinDeps, self: string): Promise<RejoinReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  if (await deps.servedElsewhere()) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, `another process answers as acceptor ${self}: ` +
      "stop it (or fix its PAXOSKV_NODE_ID / PAXOSKV_REDIS_URL) before rejoining");
  }
  const registered = await deps.registry.get(self);
  const placeholder = `${REJOINING_PREFIX}${randomUUID()}`;
  const moved = registered === null ? await deps.registry.register(self, placeholder)
    : await deps.registry.replace(self, placeholder, registered.revision);
  const movedAt = now();
  const holding = moved ? await deps.registry.get(self) : null;
  if (holding?.incarnation !== placeholder) throw changedWhileRejoining(self);
  const leaseOver = registered === null ? 0 : movedAt + deps.leaseMs + deps.phaseTimeoutMs;
  try {
    return await recoverAndRegister(deps, self, holding, Math.max(deps.notBefore, leaseOver),
      started);
  } catch (err) {
    // A new store's recovery that failed (others not up yet) gives the ID back unregistered,
    // so it stays a new store and tries again; a moved registration stays moved (the old
    // store's lease may still run), and the next rejoin waits it out again.
    if (registered === null) {
      await deps.registry.unregister(self, holding.revision).catch(() => false);
    }
    throw err;
  }
}

async function recoverAndRegister(
  deps: RejoinDeps, self: string, holding: Registration, notBefore: number, started: number,
): Promise<RejoinReport> {
  const now = deps.now ?? Date.now;
  const wait = notBefore - now();
  if (wait > 0) {
    deps.log.info({ waitMs: wait }, "rejoin waits for phases that may have used the old " +
      "state, and for the old store's lease to run out");
    await new Promise((resolve) => setTimeout(resolve, wait));
  }

  const others = deps.acceptors.filter((id) => id !== self);
  const { listed, keys } = await listKeysToRecover(deps.acceptors, others, deps.listKeys);

  await deps.store.clear();
  const restored = await recoverAll(deps, keys);

  const incarnation = randomUUID();
  await deps.store.restore(restored, incarnation);
  if (!await deps.registry.replace(self, incarnation, holding.revision)) {
    throw changedWhileRejoining(self);
  }
  const chosen = restored.filter((r) => r.state.accepted !== null).length;
  return {
    acceptor: self, acceptorsListed: listed, keys: keys.size, chosen,
    empty: restored.length - chosen, incarnation, ms: now() - started,
  };
}

export interface PartsRejoinDeps extends Pick<RejoinDeps, "store" | "acceptors" | "listKeys" |
  "recover" | "phaseTimeoutMs" | "now" | "log" | "concurrency"> {
  /** The incarnation the store serves as (its intact parts carry it, and keep voting). */
  readonly incarnation: string;
  /** The parts that lost their marker (`AcceptorMaintenanceStore.parts`), to heal. */
  readonly lost: readonly number[];
  /** Each part's write mark, as recorded in the registry: a healed part's counter starts there. */
  readonly marks: readonly number[];
  /** What `claimParts` answered: the lost parts are reserved for this heal. */
  readonly nonce?: string;
}

/**
 * Heals the parts of a store that lost their state (a wiped shard of a Redis Cluster store)
 * while its other parts keep voting: the steps of `rejoin` for the keys of those parts only,
 * and no new incarnation (the intact parts keep theirs; the registration does not move).
 *
 * Why it is safe without moving the registration: a lost part has answered nothing since its
 * marker vanished (its scripts refuse), which was before this rejoin began; a proposer counts
 * no reply after its phase timed out, so after two phase timeouts from now every phase that
 * counted one of its old answers is over, and the partner promises are in the other
 * acceptors' stores when they are listed. A part is marked only while it has no marker, so a
 * part another process healed first (and that votes again) is never written over.
 */
export async function rejoinLostParts(deps: PartsRejoinDeps, self: string): Promise<RejoinReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const { partOf, restoreParts } = deps.store;
  if (partOf === undefined || restoreParts === undefined) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, `acceptor ${self}'s store has one part: a ` +
      "rejoin recovers all of it");
  }
  await new Promise((resolve) => setTimeout(resolve, 2 * deps.phaseTimeoutMs));
  const others = deps.acceptors.filter((id) => id !== self);
  const { listed, keys } = await listKeysToRecover(deps.acceptors, others, deps.listKeys);
  const lost = new Set(deps.lost);
  const restored = await recoverAll(deps,
    new Set([...keys].filter((key) => lost.has(partOf.call(deps.store, key)))));
  const healed = await restoreParts.call(deps.store, restored, deps.lost, deps.incarnation,
    deps.marks, deps.nonce);
  const chosen = restored.filter((r) => r.state.accepted !== null).length;
  return {
    acceptor: self, acceptorsListed: listed, keys: restored.length, chosen,
    empty: restored.length - chosen, incarnation: deps.incarnation, ms: now() - started,
    parts: healed.length,
  };
}

/** A recovery proposal for each key, `concurrency` at a time: the states to install. */
async function recoverAll(
  deps: Pick<RejoinDeps, "recover" | "concurrency">, keys: ReadonlySet<string>,
): Promise<RestoredKey[]> {
  const restored: RestoredKey[] = [];
  const pending = [...keys];
  const worker = async (): Promise<void> => {
    for (let key = pending.pop(); key !== undefined; key = pending.pop()) {
      restored.push({ key, state: await recoverKey(deps, key) });
    }
  };
  await Promise.all(Array.from({ length: deps.concurrency ?? 64 }, worker));
  return restored;
}

/** The registration a rejoin holds while it runs: never a store's marker. */
export const REJOINING_PREFIX = "rejoining:";

function changedWhileRejoining(self: string): PaxosKvError {
  return new PaxosKvError(ErrorCode.UNAVAILABLE, `the registration of acceptor ${self} ` +
    "changed while it rejoined (another process claimed it): this store stays refused");
}

async function recoverKey(deps: Pick<RejoinDeps, "recover">, key: string):
  Promise<RestoredKey["state"]> {
  for (let attempt = 1; ; attempt++) {
    const outcome = await deps.recover(key);
    const state = recoveredState(outcome);
    if (state !== null) return state;
    if (attempt >= RECOVERY_ATTEMPTS) {
      throw new PaxosKvError(ErrorCode.UNAVAILABLE, `recovering key ${key} failed ` +
        `(${outcome.kind} after ${attempt} attempts); retry the rejoin`);
    }
  }
}

/**
 * Lists the other acceptors at once and takes the union of their keys (`keysToRecover`); fails
 * with UNAVAILABLE unless `listingsNeeded` of them answered.
 */
async function listKeysToRecover(
  all: readonly string[], others: readonly string[],
  listKeys: (acceptorId: string) => Promise<readonly string[]>,
): Promise<{ listed: string[]; keys: Set<string> }> {
  const listings = await Promise.allSettled(others.map((id) => listKeys(id)));
  const listed = others.filter((_id, i) => listings[i]?.status === "fulfilled");
  const keys = keysToRecover(all.length, listings.flatMap((l) =>
    l.status === "fulfilled" ? [l.value] : []));
  if (keys === null) {
    throw new PaxosKvError(ErrorCode.UNAVAILABLE, `only ${listed.length} of ${others.length} ` +
      `acceptors listed their keys; a rejoin needs ${listingsNeeded(all.length)} of the ` +
      `${all.length}`);
  }
  return { listed, keys };
}
