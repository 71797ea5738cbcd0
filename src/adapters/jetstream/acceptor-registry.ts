import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { decodeJson } from "../nats/connection.js";

/** The incarnation registered for one acceptor ID, and the KV revision that holds it. */
export interface Registration {
  readonly incarnation: string;
  readonly revision: number;
  /**
   * The store's write counter as its node last recorded it (0 when never recorded, or written
   * by a version from before marks): a store of this incarnation below it was rolled back.
   */
  readonly mark: number;
  /**
   * The mark of each part of the store (`AcceptorMaintenanceStore.parts`): `[mark]` for one
   * Redis, one per bucket for a Redis Cluster store, whose entry also keeps `mark` (their sum)
   * for versions that read only that.
   */
  readonly marks: readonly number[];
}

// Unknown fields are ignored, so a registration with `mark` or `marks` reads fine in older
// versions (they never serve a cluster store; they read `mark` for direct reads alone).
const RegistrationSchema = z.object({
  incarnation: z.string().min(1),
  mark: z.number().int().nonnegative().optional(),
  marks: z.array(z.number().int().nonnegative()).optional(),
});

/** The entry's JSON: exactly today's `{incarnation, mark}` for a store of one part. */
function entryOf(incarnation: string, marks: readonly number[]): string {
  if (marks.length <= 1) return JSON.stringify({ incarnation, mark: marks[0] ?? 0 });
  return JSON.stringify({ incarnation, mark: marks.reduce((a, b) => a + b, 0), marks });
}

/** The bucket name of the registry for a subject prefix. */
export function registryBucket(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9_-]/g, "_")}_acceptors`;
}

/**
 * Which store holds each acceptor's votes: acceptor ID → incarnation (the random marker its
 * Redis carries), in a replicated JetStream KV bucket, written with compare-and-set. A node
 * serves an acceptor ID only with the registered store, so a wiped Redis or a second process
 * with another Redis is refused instead of voting with state it does not have.
 */
export class AcceptorRegistry {
  private constructor(private kv: KV, private readonly reopen: () => Promise<KV>) {}

  static async open(nc: NatsConnection, prefix: string, replicas = 1): Promise<AcceptorRegistry> {
    // No direct gets: a replica may answer those while behind (a stale registration) or, just
    // after the bucket was made, not at all; a get through the stream's leader does neither.
    const open = () => new Kvm(nc).create(registryBucket(prefix),
      { replicas, history: 5, allow_direct: false });
    return new AcceptorRegistry(await open(), open);
  }

  /** Creates the bucket again (after JetStream lost it): the same call as at start. */
  async recreate(): Promise<void> {
    this.kv = await this.reopen();
  }

  async get(acceptorId: string): Promise<Registration | null> {
    return registrationOf(await this.kv.get(acceptorId));
  }

  /** Registers `incarnation` if the ID has none; false when another registration exists. */
  async register(acceptorId: string, incarnation: string, marks: readonly number[] = [0]):
    Promise<boolean> {
    return this.#casWrite(() => this.kv.create(acceptorId, entryOf(incarnation, marks)));
  }

  /**
   * Replaces the registration read at `revision` (a new incarnation, or the same one with
   * higher marks); false when it changed since.
   */
  async replace(
    acceptorId: string, incarnation: string, revision: number, marks: readonly number[] = [0],
  ): Promise<boolean> {
    return this.#casWrite(() => this.kv.update(acceptorId, entryOf(incarnation, marks),
      revision));
  }

  /** Removes the registration read at `revision` (a new store's failed recovery undone). */
  async unregister(acceptorId: string, revision: number): Promise<boolean> {
    return this.#casWrite(async () => {
      await this.kv.delete(acceptorId, { previousSeq: revision });
      return 0;
    });
  }

  /** Calls `onChange` with each new registration of the ID; returns a function that stops. */
  async watch(acceptorId: string, onChange: (r: Registration | null) => void):
    Promise<() => void> {
    const updates = await this.kv.watch({ key: acceptorId });
    void (async () => {
      for await (const entry of updates) onChange(registrationOf(entry));
    })().catch(() => undefined);
    return () => updates.stop();
  }

  async #casWrite(write: () => Promise<number>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && (
        err.code === JetStreamApiCodes.StreamWrongLastSequence ||
        err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) return false;
      throw err;
    }
  }
}

/** An entry's registration; null when deleted. */
function registrationOf(entry: KvEntry | null): Registration | null {
  if (entry === null || entry.operation !== "PUT") return null;
  const parsed = RegistrationSchema.safeParse(decodeJson(entry.value));
  // A value this version cannot read is someone else's: never treat it as free.
  const incarnation = parsed.success ? parsed.data.incarnation : `unreadable:${entry.revision}`;
  const mark = parsed.data?.mark ?? 0;
  return { incarnation, revision: entry.revision, mark, marks: parsed.data?.marks ?? [mark] };
}
