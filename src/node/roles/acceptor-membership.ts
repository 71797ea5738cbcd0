import { randomUUID } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { AcceptorRegistry, Registration } from "../../adapters/jetstream/acceptor-registry.js";
import type { AcceptorFencedError, AcceptorStore, StorePart } from "../../adapters/ports.js";
import { ERROR_CODES, ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import { errorReply } from "../../protocol/replies.js";
import {
  acceptorQueue, paxosFreshSubject, paxosRejoinSubject,
} from "../../protocol/subjects.js";
import { WIRE_VERSION, type FreshReply } from "../../protocol/wire.js";
import type { AcceptorRole } from "./acceptor-role.js";
import type { Logger } from "../infrastructure/logger.js";
import {
  rejoin, rejoinLostParts, REJOINING_PREFIX, type RejoinDeps, type RejoinReport,
} from "../repair/rejoin.js";

/** The marker prefix of an incarnation retired because its store was found rolled back. */
export const RETIRED_PREFIX = "retired:";

/** Whether this node may vote as its acceptor ID with the store it has. */
export type Claim =
  | {
    readonly kind: "voting"; readonly incarnation: string;
    /** The registry had no entry for the ID and this store's marker was registered again. */
    readonly reregistered: boolean;
  }
  /**
   * The store is empty, has no marker, and the ID is not registered: a new acceptor, or one
   * whose Redis and registry were both lost. It recovers from the others before it votes.
   */
  | { readonly kind: "new-store" }
  /** The store holds nothing and no marker, yet the ID is registered: its state was lost. */
  | { readonly kind: "lost-state"; readonly registered: string }
  /** The store carries another incarnation: the ID belongs to another Redis. */
  | { readonly kind: "other-store"; readonly own: string; readonly registered: string }
  /** The store is older than its registered mark (a backup restored, a replica promoted). */
  | { readonly kind: "rolled-back"; readonly retired: string }
  /** A rejoin moved the registration to its placeholder and did not finish. */
  | { readonly kind: "rejoin-unfinished"; readonly registered: string };

/** The marker a rolled-back store gets: never registered, so every script refuses it. */
export function retiredMarker(incarnation: string, writes: number, mark: number): string {
  return `${RETIRED_PREFIX}${incarnation}:writes=${writes}<mark=${mark}`;
}

/**
 * The registered mark of each of `partCount` parts; zeros when they were recorded for a store
 * of another shape (an acceptor moved from one Redis to a cluster, before its first record).
 */
export function marksOf(registered: Registration, partCount: number): readonly number[] {
  return registered.marks.length === partCount ? registered.marks :
    Array.from({ length: partCount }, () => 0);
}

/** The first part carrying `incarnation` whose counter is below its mark: rolled back. */
export function partBehind(
  parts: readonly StorePart[], incarnation: string, marks: readonly number[],
): { readonly writes: number; readonly mark: number } | null {
  for (const [i, part] of parts.entries()) {
    const mark = marks[i] ?? 0;
    if (part.marker === incarnation && part.writes < mark) return { writes: part.writes, mark };
  }
  return null;
}

/**
 * How far a healed part's counter jumps above its recorded mark: past any count its lost state
 * could have reached since (the mark trails the true counter by one recording interval), so an
 * old copy of the part is below the new mark even if the part stays quiet. 2^32 per heal keeps
 * marks exact (below 2^53) for 2^21 heals.
 */
export const HEAL_JUMP = 2 ** 32;

/** The marks a per-part heal registers before it restores: each healed part's plus HEAL_JUMP. */
export function healedMarks(marks: readonly number[], healed: readonly number[]): number[] {
  const parts = new Set(healed);
  return marks.map((m, i) => parts.has(i) ? m + HEAL_JUMP : m);
}

/** Each part's counter, 0 for a part that lost the marker (it has nothing to protect). */
function writesOf(parts: readonly StorePart[], incarnation: string): number[] {
  return parts.map((p) => p.marker === incarnation ? p.writes : 0);
}

/**
 * Matches the store's incarnation marker and write counters against the registry. A single
 * Redis with state but no marker (made before markers existed) gets one; a store of many parts
 * in that state lost its markers or holds a half-done rejoin, and must recover. A store with a marker whose ID
 * has no registration (the registry was lost) registers it again: the marker proves the store
 * is the one that voted. An empty store never registers here: it must first recover from the
 * other acceptors (`new-store`), and the registration is the last step of that recovery. A
 * store with any part below its registered mark is retired in the store itself. (Parts that
 * lost the marker, a wiped cluster shard, do not stop the claim: they refuse on their own.)
 */
export async function claimAcceptor(
  store: Pick<AcceptorStore, "acceptorId" | "incarnation" | "adoptIncarnation" | "holdsState" |
    "parts" | "retireIncarnation">,
  registry: Pick<AcceptorRegistry, "get" | "register">,
  newIncarnation: () => string = randomUUID,
): Promise<Claim> {
  let own = await store.incarnation();
  if (own === null && store.adoptIncarnation !== undefined && await store.holdsState()) {
    own = await store.adoptIncarnation(newIncarnation());
  }
  if (own?.startsWith(RETIRED_PREFIX) === true) return { kind: "rolled-back", retired: own };
  for (let attempt = 1; ; attempt++) {
    const registered = await registry.get(store.acceptorId);
    if (registered === null) {
      if (own === null) return { kind: "new-store" };
      if (await registry.register(store.acceptorId, own, writesOf(await store.parts(), own))) {
        return { kind: "voting", incarnation: own, reregistered: true };
      }
      // Another process registered first: compare with what it wrote.
      if (attempt < 5) continue;
      throw new Error(`the registration of acceptor ${store.acceptorId} keeps changing`);
    }
    if (registered.incarnation.startsWith(REJOINING_PREFIX)) {
      return { kind: "rejoin-unfinished", registered: registered.incarnation };
    }
    if (registered.incarnation === own) {
      const parts = await store.parts();
      const behind = partBehind(parts, own, marksOf(registered, parts.length));
      if (behind === null) return { kind: "voting", incarnation: own, reregistered: false };
      const retired = retiredMarker(own, behind.writes, behind.mark);
      if (await store.retireIncarnation(own, retired)) return { kind: "rolled-back", retired };
      throw new Error(`the marker of acceptor ${store.acceptorId}'s store changed while it ` +
        "was checked");
    }
    return own === null ? { kind: "lost-state", registered: registered.incarnation }
      : { kind: "other-store", own, registered: registered.incarnation };
  }
}

/** Tries at start to read the registry (about 30 s in all) before the node gives up. */
const CLAIM_ATTEMPTS = 20;

/** How often a voting acceptor records its store's write counter in the registry. */
export const MARK_INTERVAL_MS = 1000;

/** A recovering acceptor logs its first failed attempt, then at most one in this long. */
const RECOVERY_LOG_MS = 30_000;

export interface MembershipDeps {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly store: AcceptorStore;
  readonly registry: AcceptorRegistry;
  readonly role: AcceptorRole;
  readonly acceptors: readonly string[];
  readonly log: Logger;
  /** Twice this after the acceptor stopped voting, a rejoin may read the others' keys. */
  readonly phaseTimeoutMs: number;
  /** Default MARK_INTERVAL_MS; also how often a refused acceptor looks at its claim again. */
  readonly markIntervalMs?: number;
  /** It answers only within this long of its registration's last confirmation. */
  readonly leaseMs: number;
}

type RejoinPorts = Pick<RejoinDeps, "listKeys" | "servedElsewhere" | "recover">;

/**
 * Runs the acceptor role only while the store is the registered one: at start, when a script
 * finds the store wiped under a running node, when the registration moves to another store,
 * and while its write counter stays at or above the mark recorded in the registry. A new
 * store recovers from the others on its own, then registers; any other refusal keeps the
 * acceptor out (`voting` false, an error log saying why) until `paxoskv acceptor rejoin <id>`.
 */
export class AcceptorMembership {
  #voting = false;
  #incarnation: string | null = null;
  /** Per part, the highest write count known to be recorded in the registry. */
  #marks: readonly number[] = [];
  /** How many parts of the store lost the marker (wiped cluster shards), as last seen. */
  #partsLost = 0;
  #claimed: Claim | null = null;
  #refusal: string | null = "starting";
  /** When the acceptor last stopped voting (or the process started). */
  #outSince = Date.now();
  #stopWatch: (() => void) | null = null;
  #subscriptions: Subscription[] = [];
  #rejoining: Promise<unknown> | null = null;
  #rejoinPorts: RejoinPorts | null = null;
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;
  #stopped = false;
  /** When a new store's failed recovery was last logged (Date.now; 0: not since it voted). */
  #recoveryLoggedAt = 0;
  /** When a registry read last confirmed the registration (performance.now, sent at). */
  #confirmedAt = -Infinity;
  #leaseLapsed = false;

  constructor(private readonly deps: MembershipDeps) {}

  /**
   * Whether the acceptor may answer now: it votes, and a registry read sent less than the
   * lease ago found its registration. Monotonic clock: a paused process (SIGSTOP, a VM
   * freeze) wakes with a lapsed lease, whatever the wall clock did.
   */
  leaseHolds(): boolean {
    const holds = this.#voting && performance.now() - this.#confirmedAt < this.deps.leaseMs;
    if (this.#voting && !holds && !this.#leaseLapsed) {
      this.deps.log.warn({ code: ErrorCode.UNAVAILABLE, leaseMs: this.deps.leaseMs },
        `acceptor ${this.id} has not confirmed its registration within its lease: it answers ` +
        "nothing until it does (the registry is unreachable, or this process was paused)");
    }
    this.#leaseLapsed = this.#voting && !holds;
    return holds;
  }

  get voting(): boolean {
    return this.#voting;
  }

  /** How many parts of a voting store lost their state and refuse (see `parts`). */
  get partsLost(): number {
    return this.#voting ? this.#partsLost : 0;
  }

  get id(): string {
    return this.deps.store.acceptorId;
  }

  /**
   * Why the acceptor does not vote, `kind: reason` (null while it votes): for /votingz,
   * `paxoskv status` and its voting beat.
   */
  get refusal(): string | null {
    return this.#voting ? null : this.#refusal;
  }

  async start(): Promise<void> {
    // JetStream may still be electing the registry's leader when a cluster starts.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#claim();
        break;
      } catch (err) {
        if (attempt >= CLAIM_ATTEMPTS) throw err;
        this.#claimFailed(err);
        await new Promise((resolve) => setTimeout(resolve, 250 * Math.min(attempt, 8)));
      }
    }
    await this.#watch();
    this.#serveFresh();
    this.#timer = setInterval(() => void this.#tick(), this.deps.markIntervalMs ?? MARK_INTERVAL_MS);
  }

  /** Serves rejoin requests; needs the node's proposer for the recovery proposals. */
  serveRejoin(ports: RejoinPorts): void {
    this.#rejoinPorts = ports;
    const subject = paxosRejoinSubject(this.deps.prefix, this.id);
    this.#subscriptions.push(this.deps.nc.subscribe(subject, {
      queue: acceptorQueue(this.id),
      callback: (_err, msg) => void this.#rejoin(ports, false).then((body) => {
        if (msg.reply !== undefined) msg.respond(JSON.stringify(body));
      }),
    }));
    if (this.#claimed?.kind === "new-store") void this.#recoverNew();
  }

  /** A store call was refused: the Redis no longer holds the registered state. */
  fenced(error: AcceptorFencedError): void {
    if (!this.#voting) return;
    void this.#stopVoting(error.message).then(() => this.#claim())
      .catch((err: unknown) => this.#claimFailed(err));
  }

  /** JetStream lost the registry and it was made again: watch it anew and claim again. */
  async registryRecreated(): Promise<void> {
    this.#stopWatch?.();
    this.#stopWatch = null;
    await this.#watch();
    if (this.#voting) await this.#recordMark();
    else if (this.#rejoining === null) await this.#claim();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#stopWatch?.();
    for (const sub of this.#subscriptions) sub.unsubscribe();
    await this.#rejoining?.catch(() => undefined);
    await this.deps.role.stop();
    // A clean stop records the last writes: a backup taken before them is then found behind.
    if (this.#voting) {
      await this.#recordMark().catch((err: unknown) => this.deps.log.warn({ err },
        `acceptor ${this.id} could not record its write mark at stop`));
    }
  }

  async #watch(): Promise<void> {
    this.#stopWatch = await this.deps.registry.watch(this.id,
      (r) => void this.#onRegistration(r).catch((err: unknown) => this.#claimFailed(err)));
  }

  /** Tells a recovering acceptor whether this one is a new store that never voted. */
  #serveFresh(): void {
    const subject = paxosFreshSubject(this.deps.prefix, this.id);
    this.#subscriptions.push(this.deps.nc.subscribe(subject, {
      queue: acceptorQueue(this.id),
      callback: (_err, msg) => void this.#isFresh().then((fresh) => {
        const reply: FreshReply = { v: WIRE_VERSION, from: this.id, fresh };
        if (msg.reply !== undefined) msg.respond(JSON.stringify(reply));
      }, () => undefined),
    }));
  }

  /** Only a store claimed as new, still empty and unmarked, has nothing a recovery needs. */
  async #isFresh(): Promise<boolean> {
    if (this.#voting || this.#claimed?.kind !== "new-store") return false;
    return await this.deps.store.incarnation() === null && !await this.deps.store.holdsState();
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    try {
      if (this.#voting) await this.#recordMark();
      else if (this.#rejoining === null) {
        await this.#claim();
        if (this.#claimed?.kind === "new-store") void this.#recoverNew();
      }
    } catch (err) {
      this.deps.log.debug({ err }, `acceptor ${this.id}: registry check failed`);
    } finally {
      this.#ticking = false;
    }
  }

  /**
   * Records the store's write counters in the registry when they grew, fences the store when
   * a part went below its recorded mark (rolled back under the running node), and stops
   * voting when every part lost the marker (a part that lost it refuses on its own).
   */
  async #recordMark(): Promise<void> {
    const incarnation = this.#incarnation;
    if (incarnation === null) return;
    // A part whose shard does not answer is left out (not lost, its mark kept): the lease is
    // confirmed by the others, and one primary down silences only its own buckets. The two
    // reads run together: a hung primary costs one command timeout, not two, of the lease.
    const [, parts] = await Promise.all([this.#fenceIncompleteParts(), this.deps.store.parts()]);
    const lost = parts.filter((p) => p.marker !== incarnation && !p.unreadable).length;
    if (lost === parts.length) {
      await this.#stopVoting("its Redis no longer carries its marker");
      return this.#claim();
    }
    this.#notePartsLost(lost, parts.length);
    const writes = writesOf(parts, incarnation);
    const asked = performance.now();
    const registered = await this.deps.registry.get(this.id);
    if (registered === null) {
      // The registry lost the entry (JetStream lost its data): register what this store is.
      if (await this.deps.registry.register(this.id, incarnation, writes)) {
        this.#marks = writes;
        this.#confirmedAt = asked;
        this.deps.log.warn({ incarnation, code: ErrorCode.UNAVAILABLE }, `acceptor ${this.id} ` +
          "was not registered (JetStream lost the registry?): registered its store again");
      }
      return;
    }
    if (registered.incarnation !== incarnation) return this.#onRegistration(registered);
    this.#confirmedAt = asked;
    const recorded = marksOf(registered, parts.length);
    const marks = recorded.map((m, i) => Math.max(m, this.#marks[i] ?? 0));
    const behind = partBehind(parts, incarnation, marks);
    if (behind !== null) return this.#rolledBack(incarnation, behind.writes, behind.mark);
    this.#marks = marks;
    const next = marks.map((m, i) => Math.max(m, writes[i] ?? 0));
    if (next.some((m, i) => m > (recorded[i] ?? 0)) &&
      await this.deps.registry.replace(this.id, incarnation, registered.revision, next)) {
      this.#marks = next;
    }
  }

  /** Each tick: parts that may have lost keys (see `fenceIncompleteParts`) lose their marker. */
  async #fenceIncompleteParts(): Promise<void> {
    const fenced = await this.deps.store.fenceIncompleteParts?.().catch((err: unknown) => {
      this.deps.log.warn({ err }, `acceptor ${this.id}: could not check its store's moving slots`);
      return [];
    }) ?? [];
    if (fenced.length === 0) return;
    this.deps.log.error({ code: ErrorCode.UNAVAILABLE, parts: fenced }, `acceptor ${this.id}: ` +
      `${fenced.length} buckets of its Redis Cluster store may have lost keys (a reshard whose ` +
      "other primary went away, or a slot holding another number of keys than the bucket " +
      `counted): fenced; run \`paxoskv acceptor rejoin ${this.id}\` once the slots are fixed`);
  }

  /** Logs when the number of parts that lost their state changes. */
  #notePartsLost(lost: number, of: number): void {
    if (lost === this.#partsLost) return;
    this.#partsLost = lost;
    if (lost === 0) {
      this.deps.log.info({}, `acceptor ${this.id}: every part of its store votes again`);
      return;
    }
    this.deps.log.error({ code: ErrorCode.UNAVAILABLE, partsLost: lost, parts: of },
      `acceptor ${this.id}: ${lost} of the ${of} buckets of its Redis Cluster store lost their ` +
      "state (a shard was wiped or replaced): their keys do not vote, the others do; run " +
      `\`paxoskv acceptor rejoin ${this.id}\` to recover them from the other acceptors`);
  }

  async #rolledBack(incarnation: string, writes: number, mark: number): Promise<void> {
    await this.#stopVoting(`its Redis has ${writes} writes, below the ${mark} recorded: it was ` +
      "rolled back");
    await this.deps.store.retireIncarnation(incarnation, retiredMarker(incarnation, writes, mark));
    await this.#claim();
  }

  async #claim(): Promise<void> {
    const asked = performance.now();
    const claim = await claimAcceptor(this.deps.store, this.deps.registry);
    if (claim.kind === "voting" && claim.incarnation === this.#incarnation) this.#confirmedAt = asked;
    const changed = JSON.stringify(claim) !== JSON.stringify(this.#claimed);
    this.#claimed = claim;
    if (claim.kind === "voting") {
      if (this.#voting) return;
      if (claim.reregistered) {
        this.deps.log.warn({ incarnation: claim.incarnation, code: ErrorCode.UNAVAILABLE },
          `acceptor ${this.id} was not registered (JetStream lost the registry?): its store ` +
          "carries a marker, so it registered it again");
      }
      this.#incarnation = claim.incarnation;
      this.#confirmedAt = asked;
      this.#marks = [];
      this.#partsLost = 0;
      this.deps.store.serveAs(claim.incarnation);
      this.deps.role.start();
      this.#voting = true;
      this.#recoveryLoggedAt = 0;
      this.deps.log.info({ incarnation: claim.incarnation }, `acceptor ${this.id} votes`);
      return;
    }
    this.#incarnation = null;
    const why = this.#why(claim);
    this.#refusal = `${claim.kind}: ${why}`;
    if (claim.kind === "new-store") {
      // Recovered by serveRejoin's first attempt, then one attempt per tick.
      if (changed) this.deps.log.warn({ reason: claim.kind }, why);
      return;
    }
    if (changed) this.deps.log.error({ code: ErrorCode.UNAVAILABLE, reason: claim.kind }, why);
  }

  #why(claim: Exclude<Claim, { kind: "voting" }>): string {
    const rejoinHint = `run \`paxoskv acceptor rejoin ${this.id}\` to recover its state from ` +
      "the other acceptors (never restore an acceptor's Redis from a backup or fail it over to " +
      "a replica: wipe it and rejoin)";
    switch (claim.kind) {
      case "new-store":
        return `acceptor ${this.id}'s Redis is empty and the ID is not registered: it recovers ` +
          "from a majority of the other acceptors before it votes (instant in a new cluster)";
      case "lost-state":
        return `its Redis holds no state, yet acceptor ${this.id} is registered (incarnation ` +
          `${claim.registered}): its data was lost (or another process with another Redis is ` +
          `acceptor ${this.id}). An acceptor that forgot its promises could let a second value ` +
          `be chosen, so it does not vote; ${rejoinHint}.`;
      case "other-store":
        return `its Redis carries incarnation ${claim.own}, but acceptor ${this.id} is ` +
          `registered with ${claim.registered}: another Redis holds its votes. It does not ` +
          `vote; check PAXOSKV_REDIS_URL and PAXOSKV_NODE_ID, or run \`paxoskv acceptor rejoin ` +
          `${this.id}\` if that other Redis is gone for good.`;
      case "rejoin-unfinished":
        return `a rejoin of acceptor ${this.id} holds its registration (placeholder ` +
          `${claim.registered}): it votes again when the rejoin ends; if none is running (it ` +
          `failed), run \`paxoskv acceptor rejoin ${this.id}\` again.`;
      case "rolled-back":
        return `acceptor ${this.id}'s Redis is older than the state it voted with ` +
          `(${claim.retired.slice(RETIRED_PREFIX.length)}): it was restored from a backup or ` +
          "a replica took its place, and may have forgotten promises, so it does not vote; " +
          `${rejoinHint}.`;
    }
  }

  /** The acceptor stays out; the next registration change or rejoin claims again. */
  #claimFailed(err: unknown): void {
    this.#refusal = `registration unknown: ${err instanceof Error ? err.message : String(err)}`;
    this.deps.log.warn({ err, code: ErrorCode.UNAVAILABLE },
      `acceptor ${this.id} could not check its registration; it does not vote`);
  }

  async #stopVoting(why: string): Promise<void> {
    if (!this.#voting) return;
    this.#voting = false;
    this.#refusal = why;
    this.#outSince = Date.now();
    this.deps.store.serveAs(null);
    this.deps.log.error({ code: ErrorCode.UNAVAILABLE }, `acceptor ${this.id} stops voting: ${why}`);
    await this.deps.role.stop();
  }

  async #onRegistration(registration: Registration | null): Promise<void> {
    if (registration === null && this.#voting) return; // the registry lost it: #recordMark
    if (registration?.incarnation === this.#incarnation) return;
    await this.#stopVoting(`its registration changed to ${registration?.incarnation ?? "none"}`);
    // Processes sharing one Redis: the one that rejoined wrote the new marker for all.
    if (this.#rejoining === null) await this.#claim();
  }

  /** A new store's recovery: a rejoin that runs on its own, retried each tick until it ends. */
  async #recoverNew(): Promise<void> {
    const ports = this.#rejoinPorts;
    if (ports === null || this.#voting || this.#rejoining !== null || this.#stopped) return;
    await this.#rejoin(ports, true);
  }

  /** Heals the parts that lost their state while the others vote (`rejoinLostParts`). */
  async #rejoinParts(ports: RejoinPorts, incarnation: string, lost: readonly number[]):
    Promise<unknown> {
    if (this.#stopped) return errorReply(ErrorCode.UNAVAILABLE, `acceptor ${this.id} is stopping`);
    if (this.#rejoining !== null) {
      return errorReply(ErrorCode.BAD_REQUEST, `acceptor ${this.id} is already rejoining`);
    }
    // The whole heal, its reservation's release included, is what stop() waits for.
    const healing = this.#healParts(ports, incarnation, lost);
    this.#rejoining = healing;
    try {
      return await healing;
    } finally {
      this.#rejoining = null;
    }
  }

  async #healParts(ports: RejoinPorts, incarnation: string, lost: readonly number[]):
    Promise<unknown> {
    let nonce: string | undefined;
    try {
      // Reserved before the marks are raised: a second heal of these parts (another process,
      // or a retry) refuses here rather than raise them again past this heal's counters.
      nonce = await this.deps.store.claimParts?.(lost);
      const marks = await this.#raiseMarks(incarnation, lost);
      const report = await rejoinLostParts({
        ...ports, store: this.deps.store, acceptors: this.deps.acceptors, incarnation, lost,
        marks, phaseTimeoutMs: this.deps.phaseTimeoutMs, log: this.deps.log,
        ...nonce === undefined ? {} : { nonce },
      }, this.id);
      this.deps.log.info({ ...report }, `acceptor ${this.id} recovered ${report.parts ?? 0} ` +
        `of ${lost.length} lost parts of its store; the others voted meanwhile`);
      return { ok: true, ...report };
    } catch (err) {
      // A store's error carries its code too (UNAVAILABLE: try again), not only ours.
      const carried = (err as { code?: unknown } | null)?.code;
      const code = ERROR_CODES.find((c) => c === carried) ?? ErrorCode.INTERNAL;
      this.deps.log.warn({ err, code }, "rejoin of the lost parts failed");
      return errorReply(code, err instanceof Error ? err.message : String(err));
    } finally {
      if (nonce !== undefined) await this.deps.store.releaseParts?.(lost, nonce).catch(() => undefined);
    }
  }

  /**
   * Registers, before a heal restores anything, the lost parts' marks raised by HEAL_JUMP (the
   * restore sets each healed counter to its mark): an old copy of a healed part, whose counter
   * is at most the true one, is then found behind. The registry's marks count too, in case
   * this process has not read them yet; the recorder only ever raises marks.
   */
  async #raiseMarks(incarnation: string, lost: readonly number[]): Promise<readonly number[]> {
    const count = (await this.deps.store.parts()).length;
    for (let attempt = 1; attempt <= 5; attempt++) {
      const registered = await this.deps.registry.get(this.id);
      if (registered?.incarnation !== incarnation) break;
      const recorded = marksOf(registered, count);
      const marks = healedMarks(Array.from({ length: count },
        (_, i) => Math.max(recorded[i] ?? 0, this.#marks[i] ?? 0)), lost);
      if (await this.deps.registry.replace(this.id, incarnation, registered.revision, marks)) {
        this.#marks = marks;
        return marks;
      }
    }
    throw new PaxosKvError(ErrorCode.UNAVAILABLE, `acceptor ${this.id}'s registration did not ` +
      "take the healed parts' marks (it changed meanwhile): rejoin again");
  }

  async #rejoin(ports: RejoinPorts, automatic: boolean): Promise<unknown> {
    const isVoting = () =>
      errorReply(ErrorCode.BAD_REQUEST, `acceptor ${this.id} is voting: nothing to rejoin`);
    const already = () =>
      errorReply(ErrorCode.BAD_REQUEST, `acceptor ${this.id} is already rejoining`);
    if (this.#voting) {
      // Decided before any wait: a request queued for a process that stops voting meanwhile
      // (a paused old process waking up) must not start a second rejoin.
      if (automatic || this.deps.store.restoreParts === undefined) return isVoting();
      if (this.#rejoining !== null) return already();
      // A store of many parts, some of which lost their state: those recover while the rest
      // votes; parts with another marker mean the whole store rejoins.
      const incarnation = this.#incarnation;
      const parts = await this.deps.store.parts();
      if (!this.#voting || this.#incarnation !== incarnation || incarnation === null) {
        return isVoting();
      }
      const lost = parts.flatMap((p, i) => p.marker === null && !p.unreadable ? [i] : []);
      const other = parts.some((p) => p.marker !== null && p.marker !== incarnation);
      if (!other && lost.length > 0) return this.#rejoinParts(ports, incarnation, lost);
      if (!other) return isVoting();
      await this.#stopVoting("a rejoin recovers its store (parts carry another incarnation)");
    }
    if (this.#rejoining !== null) return already();
    if (this.#stopped) return errorReply(ErrorCode.UNAVAILABLE, `acceptor ${this.id} is stopping`);
    const run = rejoin({
      ...ports, store: this.deps.store, acceptors: this.deps.acceptors,
      registry: this.deps.registry, notBefore: this.#outSince + 2 * this.deps.phaseTimeoutMs,
      leaseMs: this.deps.leaseMs, phaseTimeoutMs: this.deps.phaseTimeoutMs, log: this.deps.log,
    }, this.id);
    this.#rejoining = run;
    try {
      const report: RejoinReport = await run;
      this.deps.log.info({ ...report }, automatic ? `acceptor ${this.id} recovered as a new ` +
        "store" : `acceptor ${this.id} rejoined`);
      await this.#claim();
      return { ok: true, ...report };
    } catch (err) {
      const code = err instanceof PaxosKvError ? err.code : ErrorCode.INTERNAL;
      const message = err instanceof Error ? err.message : String(err);
      const quiet = automatic && Date.now() - this.#recoveryLoggedAt < RECOVERY_LOG_MS;
      if (automatic && !quiet) this.#recoveryLoggedAt = Date.now();
      if (!quiet) {
        this.deps.log.warn({ err, code }, automatic ? `acceptor ${this.id} could not recover ` +
          "yet (it needs a majority of the other acceptors); it retries" : "rejoin failed");
      }
      return errorReply(code, message);
    } finally {
      this.#rejoining = null;
      // A registration that landed though its acknowledgement was lost: the store's marker is
      // registered now, so the claim finds it voting instead of waiting for another rejoin.
      if (!this.#voting && !this.#stopped) await this.#claim().catch((e: unknown) => this.#claimFailed(e));
    }
  }
}
