import {
  jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ErrorCode } from "../../protocol/codes.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

/** A JetStream stream this node relies on, what its loss means, and how to make it again. */
export interface WatchedStream {
  /** The metric label: `chosen-stream`, `acceptor-registry`. */
  readonly name: string;
  /** The JetStream stream's name. */
  readonly stream: string;
  /** What is lost with it and what the node does about it, for the log. */
  readonly consequence: string;
  /** Makes the stream again (the same call as at start). */
  readonly recreate: () => Promise<void>;
  /** Resumes what used the stream, now a new one (made here or by another node). */
  readonly resume: () => Promise<void>;
}

/** How often a node checks that its streams exist. */
export const JETSTREAM_CHECK_MS = 2000;

/**
 * JetStream acknowledges before it syncs and can lose a stream for good (volumes removed, a
 * power cut). Nothing else notices: a consumer of a vanished stream waits silently and the
 * registry's fencing quietly stops. So every node checks that the streams it uses exist; a
 * missing one is loud (an error log saying what to do, `/readyz`, a metric) and is made again.
 * Only "stream not found" counts: JetStream still electing a leader is not a loss.
 */
export class JetStreamWatch {
  readonly missing = new Set<string>();
  /** Each stream's creation time as first seen: another one means it was made again. */
  readonly #created = new Map<string, string>();
  #timer: NodeJS.Timeout | null = null;
  #checking = false;
  #jsm: JetStreamManager | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly streams: readonly WatchedStream[],
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly intervalMs = JETSTREAM_CHECK_MS,
  ) {
    for (const s of streams) metrics.jetstreamMissing.set({ stream: s.name }, 0);
  }

  start(): void {
    this.#timer = setInterval(() => void this.check(), this.intervalMs);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
  }

  /** One pass over the streams (also called by tests). */
  async check(): Promise<void> {
    if (this.#checking || this.nc.isClosed()) return;
    this.#checking = true;
    try {
      this.#jsm ??= await jetstreamManager(this.nc);
      for (const watched of this.streams) await this.#checkOne(this.#jsm, watched);
    } catch (err) {
      this.log.debug({ err }, "JetStream check failed");
    } finally {
      this.#checking = false;
    }
  }

  async #checkOne(jsm: JetStreamManager, watched: WatchedStream): Promise<void> {
    if (!this.missing.has(watched.name)) {
      let created: string;
      try {
        created = (await jsm.streams.info(watched.stream)).created;
      } catch (err) {
        if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) {
          return; // unreachable or electing: not a loss
        }
        this.#lost(watched, "is gone");
        return this.#recreate(watched);
      }
      const seen = this.#created.get(watched.name);
      this.#created.set(watched.name, created);
      if (seen === undefined || seen === created) return;
      // Another node found it gone and made it first: this node's users of it resume too.
      this.#lost(watched, "was lost and made again by another node");
      return this.#resume(watched);
    }
    return this.#recreate(watched);
  }

  #lost(watched: WatchedStream, what: string): void {
    this.missing.add(watched.name);
    this.metrics.jetstreamLost.inc({ stream: watched.name });
    this.metrics.jetstreamMissing.set({ stream: watched.name }, 1);
    this.log.error({ code: ErrorCode.UNAVAILABLE, stream: watched.stream },
      `JetStream stream ${watched.stream} (the ${watched.name}) ${what}: JetStream lost its ` +
      `data (storage removed or not synced before a crash). ${watched.consequence} Check the ` +
      "NATS servers' JetStream storage (volumes, `-sd` dirs) and their sync settings.");
  }

  async #recreate(watched: WatchedStream): Promise<void> {
    try {
      await watched.recreate();
      this.#created.delete(watched.name);
      this.log.warn({ stream: watched.stream }, `JetStream stream ${watched.stream} made again`);
    } catch (err) {
      this.log.warn({ err, code: ErrorCode.UNAVAILABLE, stream: watched.stream },
        `could not make JetStream stream ${watched.stream} again yet; retrying`);
      return;
    }
    await this.#resume(watched);
  }

  async #resume(watched: WatchedStream): Promise<void> {
    try {
      await watched.resume();
      this.missing.delete(watched.name);
      this.metrics.jetstreamMissing.set({ stream: watched.name }, 0);
    } catch (err) {
      // Still missing: the next check makes it (a no-op if it exists) and resumes again.
      this.log.warn({ err, code: ErrorCode.UNAVAILABLE, stream: watched.stream },
        `could not resume the users of JetStream stream ${watched.stream} yet; retrying`);
    }
  }
}
