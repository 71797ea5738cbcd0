import type { Ballot } from "../../src/core/ballot.js";
import type { AcceptorToProposer, ProposerToAcceptor } from "../../src/core/messages.js";
import { randomInt, type Random } from "../../src/core/random.js";

/** The chosen-value event a learner is told (JetStream in the real system). */
export interface MsgLearn {
  readonly type: "learn";
  readonly key: string;
  readonly value: string;
  readonly ballot: Ballot;
}

export type SimMsg = ProposerToAcceptor | AcceptorToProposer | MsgLearn;

export interface Envelope {
  readonly from: string;
  readonly to: string;
  readonly msg: SimMsg;
  readonly deliverAt: number;
}

/** The faults in force; the simulator changes them over time and clears them to heal. */
export interface Faults {
  lossPct: number;
  dupPct: number;
  /** A message takes 1..delayTicksMax ticks, so later messages can overtake earlier ones. */
  delayTicksMax: number;
  /** Node → side; messages between sides are dropped. Null: no partition. */
  partition: Map<string, number> | null;
}

export type Note = (kind: "drop" | "dup", env: Envelope, why: string) => void;

/**
 * A fault proxy sees each message as it is sent and returns what the network will carry:
 * nothing (dropped), the message (maybe delayed), or several copies (gryadka `Proxy`).
 */
export type Proxy = (env: Envelope, random: Random, note: Note) => Envelope[];

export function chain(...proxies: Proxy[]): Proxy {
  return (env, random, note) => proxies.reduce<Envelope[]>(
    (envs, proxy) => envs.flatMap((e) => proxy(e, random, note)), [env]);
}

export const partitioned = (faults: Faults): Proxy => (env, _random, note) => {
  const sides = faults.partition;
  if (sides === null || sides.get(env.from) === sides.get(env.to)) return [env];
  note("drop", env, "partition");
  return [];
};

export const lossy = (faults: Faults): Proxy => (env, random, note) => {
  if (random.next() * 100 >= faults.lossPct) return [env];
  note("drop", env, "loss");
  return [];
};

export const duplicating = (faults: Faults): Proxy => (env, random, note) => {
  if (random.next() * 100 >= faults.dupPct) return [env];
  note("dup", env, "duplicate");
  return [env, env];
};

/** Each copy gets its own delay, so duplicates and later sends arrive in any order. */
export const delaying = (faults: Faults): Proxy => (env, random) =>
  [{ ...env, deliverAt: env.deliverAt + randomInt(random, faults.delayTicksMax) }];

/** Messages bucketed by delivery tick; a bucket is delivered in a random order. */
export class Network {
  readonly #buckets = new Map<number, Envelope[]>();
  #inFlight = 0;

  constructor(
    private readonly proxy: Proxy,
    private readonly random: Random,
    private readonly note: Note,
  ) {}

  /** Sends through the fault proxies; delivery is at least one tick later. */
  send(from: string, to: string, msg: SimMsg, now: number): void {
    for (const env of this.proxy({ from, to, msg, deliverAt: now + 1 }, this.random, this.note)) {
      this.enqueue(env);
    }
  }

  /** Bypasses the faults: for the durable chosen stream. */
  sendReliably(from: string, to: string, msg: SimMsg, deliverAt: number): void {
    this.enqueue({ from, to, msg, deliverAt });
  }

  /** Takes the messages due now, shuffled (Fisher-Yates) to reorder same-tick deliveries. */
  take(now: number): Envelope[] {
    const due = this.#buckets.get(now);
    if (due === undefined) return [];
    this.#buckets.delete(now);
    this.#inFlight -= due.length;
    for (let i = due.length - 1; i > 0; i--) {
      const j = randomInt(this.random, i + 1);
      [due[i], due[j]] = [due[j] as Envelope, due[i] as Envelope];
    }
    return due;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  private enqueue(env: Envelope): void {
    const bucket = this.#buckets.get(env.deliverAt);
    if (bucket === undefined) this.#buckets.set(env.deliverAt, [env]);
    else bucket.push(env);
    this.#inFlight += 1;
  }
}
