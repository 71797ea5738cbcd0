import { randomUUID } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { AcceptorRegistry, Registration } from "../adapters/jetstream/acceptor-registry.js";
import type { AcceptorFencedError, AcceptorStore } from "../adapters/ports.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { errorReply } from "../protocol/replies.js";
import { acceptorQueue, paxosRejoinSubject } from "../protocol/subjects.js";
import type { AcceptorRole } from "./acceptor-role.js";
import type { Logger } from "./logger.js";
import { rejoin, type RejoinDeps, type RejoinReport } from "./rejoin.js";

/** Whether this node may vote as its acceptor ID with the store it has. */
export type Claim =
  | { readonly kind: "voting"; readonly incarnation: string }
  /** The store holds nothing and no marker, yet the ID is registered: its state was lost. */
  | { readonly kind: "lost-state"; readonly registered: string }
  /** The store carries another incarnation: the ID belongs to another Redis. */
  | { readonly kind: "other-store"; readonly own: string; readonly registered: string };

/**
 * Matches the store's incarnation marker against the registry. A store with state but no marker
 * (made before markers existed) gets one; a new store registers a new incarnation, unless the ID
 * already has one: then this store is not the one that holds the ID's votes.
 */
export async function claimAcceptor(
  store: Pick<AcceptorStore, "acceptorId" | "incarnation" | "adoptIncarnation" | "holdsState">,
  registry: Pick<AcceptorRegistry, "get" | "register">,
  newIncarnation: () => string = randomUUID,
): Promise<Claim> {
  let own = await store.incarnation();
  if (own === null && await store.holdsState()) own = await store.adoptIncarnation(newIncarnation());
  for (let attempt = 1; ; attempt++) {
    const registered = await registry.get(store.acceptorId);
    if (registered === null) {
      own ??= await store.adoptIncarnation(newIncarnation());
      if (await registry.register(store.acceptorId, own)) return { kind: "voting", incarnation: own };
      // Another process registered first: compare with what it wrote.
      if (attempt < 5) continue;
      throw new Error(`the registration of acceptor ${store.acceptorId} keeps changing`);
    }
    if (registered.incarnation === own) return { kind: "voting", incarnation: own };
    return own === null ? { kind: "lost-state", registered: registered.incarnation }
      : { kind: "other-store", own, registered: registered.incarnation };
  }
}

/** Tries at start to read the registry (about 30 s in all) before the node gives up. */
const CLAIM_ATTEMPTS = 20;

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
}

/**
 * Runs the acceptor role only while the store is the registered one: at start, when a script
 * finds the store wiped under a running node, and when the registration moves to another
 * store. Otherwise the acceptor stays out (`voting` false, an error log saying why) and waits
 * for `paxoskv acceptor rejoin <id>`.
 */
export class AcceptorMembership {
  #voting = false;
  /** Why the acceptor does not vote (for status and its voting beat); null while it votes. */
  #outReason: string | null = "starting";
  #incarnation: string | null = null;
  /** When the acceptor last stopped voting (or the process started). */
  #outSince = Date.now();
  #stopWatch: (() => void) | null = null;
  #rejoinSub: Subscription | null = null;
  #rejoining: Promise<unknown> | null = null;

  constructor(private readonly deps: MembershipDeps) {}

  get voting(): boolean {
    return this.#voting;
  }

  /** Why it does not vote, or null while it votes. */
  get outReason(): string | null {
    return this.#voting ? null : this.#outReason;
  }

  get id(): string {
    return this.deps.store.acceptorId;
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
    this.#stopWatch = await this.deps.registry.watch(this.id,
      (r) => void this.#onRegistration(r).catch((err: unknown) => this.#claimFailed(err)));
  }

  /** Serves rejoin requests; needs the node's proposer for the recovery proposals. */
  serveRejoin(deps: Pick<RejoinDeps, "listKeys" | "servedElsewhere" | "recover">): void {
    const subject = paxosRejoinSubject(this.deps.prefix, this.id);
    this.#rejoinSub = this.deps.nc.subscribe(subject, {
      queue: acceptorQueue(this.id),
      callback: (_err, msg) => void this.#rejoin(deps).then((body) => {
        if (msg.reply !== undefined) msg.respond(JSON.stringify(body));
      }),
    });
  }

  /** A store call was refused: the Redis no longer holds the registered state. */
  fenced(error: AcceptorFencedError): void {
    if (!this.#voting) return;
    void this.#stopVoting(error.message).then(() => this.#claim())
      .catch((err: unknown) => this.#claimFailed(err));
  }

  async stop(): Promise<void> {
    this.#stopWatch?.();
    this.#rejoinSub?.unsubscribe();
    await this.#rejoining?.catch(() => undefined);
    await this.deps.role.stop();
  }

  async #claim(): Promise<void> {
    const claim = await claimAcceptor(this.deps.store, this.deps.registry);
    if (claim.kind === "voting") {
      this.#incarnation = claim.incarnation;
      this.deps.store.serveAs(claim.incarnation);
      this.deps.role.start();
      this.#voting = true;
      this.#outReason = null;
      this.deps.log.info({ incarnation: claim.incarnation }, `acceptor ${this.id} votes`);
      return;
    }
    this.#incarnation = null;
    const why = claim.kind === "lost-state"
      ? `its Redis holds no state, yet acceptor ${this.id} is registered (incarnation ` +
        `${claim.registered}): its data was lost (or another process with another Redis is ` +
        `acceptor ${this.id}). An acceptor that forgot its promises could let a second value ` +
        `be chosen, so it does not vote. Restore its AOF, or run \`paxoskv acceptor rejoin ` +
        `${this.id}\` to recover its state from the other acceptors.`
      : `its Redis carries incarnation ${claim.own}, but acceptor ${this.id} is registered ` +
        `with ${claim.registered}: another Redis holds its votes. It does not vote; check ` +
        `PAXOSKV_REDIS_URL and PAXOSKV_NODE_ID, or run \`paxoskv acceptor rejoin ${this.id}\` ` +
        "if that other Redis is gone for good.";
    this.#outReason = `${claim.kind}: ${why}`;
    this.deps.log.error({ code: ErrorCode.UNAVAILABLE, reason: claim.kind }, why);
  }

  /** The acceptor stays out; the next registration change or rejoin claims again. */
  #claimFailed(err: unknown): void {
    this.#outReason = `registration unknown: ${err instanceof Error ? err.message : String(err)}`;
    this.deps.log.warn({ err, code: ErrorCode.UNAVAILABLE },
      `acceptor ${this.id} could not check its registration; it does not vote`);
  }

  async #stopVoting(why: string): Promise<void> {
    if (!this.#voting) return;
    this.#voting = false;
    this.#outReason = why;
    this.#outSince = Date.now();
    this.deps.store.serveAs(null);
    this.deps.log.error({ code: ErrorCode.UNAVAILABLE }, `acceptor ${this.id} stops voting: ${why}`);
    await this.deps.role.stop();
  }

  async #onRegistration(registration: Registration | null): Promise<void> {
    if (registration?.incarnation === this.#incarnation) return;
    await this.#stopVoting(`its registration changed to ${registration?.incarnation ?? "none"}`);
    // Processes sharing one Redis: the one that rejoined wrote the new marker for all.
    if (this.#rejoining === null) await this.#claim();
  }

  async #rejoin(deps: Pick<RejoinDeps, "listKeys" | "servedElsewhere" | "recover">):
    Promise<unknown> {
    if (this.#voting) {
      return errorReply(ErrorCode.BAD_REQUEST, `acceptor ${this.id} is voting: nothing to rejoin`);
    }
    if (this.#rejoining !== null) {
      return errorReply(ErrorCode.BAD_REQUEST, `acceptor ${this.id} is already rejoining`);
    }
    const run = rejoin({
      ...deps, store: this.deps.store, acceptors: this.deps.acceptors,
      registry: this.deps.registry, notBefore: this.#outSince + 2 * this.deps.phaseTimeoutMs,
      log: this.deps.log,
    }, this.id);
    this.#rejoining = run;
    try {
      const report: RejoinReport = await run;
      this.deps.log.info({ ...report }, `acceptor ${this.id} rejoined`);
      await this.#claim();
      return { ok: true, ...report };
    } catch (err) {
      const code = err instanceof PaxosKvError ? err.code : ErrorCode.INTERNAL;
      const message = err instanceof Error ? err.message : String(err);
      this.deps.log.warn({ err, code }, "rejoin failed");
      return errorReply(code, message);
    } finally {
      this.#rejoining = null;
    }
  }
}
