/**
 * Helpers for the tests that run whole clusters (`startLocalCluster`): bounded polling, the
 * acceptors' Redis read directly, raw NATS requests that collect every reply, stream counts.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  connect, createInbox, type Msg, type NatsConnection,
} from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { expect } from "vitest";
import type { PaxosKvClient } from "../../../src/client/client.js";
import type { LocalCluster, NodeProcess } from "../../../src/dev/cluster.js";
import { chosenEventsOf } from "../../../src/adapters/jetstream/chosen-log.js";
import type { ChosenEvent } from "../../../src/protocol/replies.js";
import { CHOSEN_STREAM } from "../../../src/protocol/subjects.js";
import { cleanup, freePort } from "./servers.js";

/**
 * Calls `probe` until it returns something other than undefined, or throws at the deadline
 * with `what` and the last error or value seen. Errors from `probe` count as "not yet".
 */
export async function poll<T>(
  what: string, probe: () => Promise<T | undefined>,
  { timeoutMs = 20_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const result = await probe();
      if (result !== undefined) return result;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (last === undefined ? "" : `; last error: ${String(last)}`), { cause: last });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Milliseconds `run` took, with its result. */
export async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await run();
  return { ms: performance.now() - start, result };
}

/** An acceptor's hash of one key, as `src/adapters/redis/scripts.ts` writes it. */
export type AcceptorHash = Record<string, string>;

/** Direct ioredis connections to every acceptor's Redis of a cluster. */
export class AcceptorRedis {
  readonly #clients = new Map<string, Redis>();

  constructor(private readonly cluster: LocalCluster) {
    for (const [id, server] of cluster.redis) {
      // Fail fast while a test has that Redis stopped, and come back on its own after.
      const client = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
      client.on("error", () => undefined); // reconnects on its own; a read that fails throws
      this.#clients.set(id, client);
    }
  }

  client(acceptorId: string): Redis {
    const client = this.#clients.get(acceptorId);
    if (client === undefined) throw new Error(`no acceptor ${acceptorId}`);
    return client;
  }

  hashKey(acceptorId: string, key: string): string {
    return `${this.cluster.prefix}:acc:${acceptorId}:${key}`;
  }

  /** The acceptor's hash for `key` ({} when it holds nothing). */
  async read(acceptorId: string, key: string): Promise<AcceptorHash> {
    return this.client(acceptorId).hgetall(this.hashKey(acceptorId, key));
  }

  /** Every acceptor's hash for `key`, by acceptor ID. */
  async readAll(key: string): Promise<Map<string, AcceptorHash>> {
    const entries = await Promise.all(this.cluster.acceptors.map(
      async (id) => [id, await this.read(id, key)] as const));
    return new Map(entries);
  }

  /** Writes an accepted proposal straight into an acceptor's hash (promise = accepted). */
  async writeAccepted(
    acceptorId: string, key: string, round: number, nodeId: string, value: string,
  ): Promise<void> {
    await this.client(acceptorId).hset(this.hashKey(acceptorId, key), {
      promised_round: String(round), promised_node: nodeId,
      accepted_round: String(round), accepted_node: nodeId, accepted_value: value,
    });
  }

  /**
   * Every key of every acceptor's Redis with its hash: a picture of all Paxos state. Leaves
   * out the `~unannounced` work list, which the acceptor's announcement repair empties on
   * its own in the background (an Accept that got through would show in its key's hash).
   */
  async snapshot(): Promise<Record<string, Record<string, AcceptorHash>>> {
    const out: Record<string, Record<string, AcceptorHash>> = {};
    for (const id of this.cluster.acceptors) {
      const client = this.client(id);
      const keys = (await client.keys("*")).filter((k) => !k.endsWith(":~unannounced")).sort();
      const hashes: Record<string, AcceptorHash> = {};
      for (const key of keys) {
        const type = await client.type(key);
        hashes[key] = type === "hash" ? await client.hgetall(key) : { type };
      }
      out[id] = hashes;
    }
    return out;
  }

  close(): void {
    for (const client of this.#clients.values()) client.disconnect();
  }
}

/** The accepted proposal a majority of acceptors hold in the same ballot, or null. */
export function majorityAccepted(
  hashes: ReadonlyMap<string, AcceptorHash>,
): { round: string; node: string; value: string; acceptors: string[] } | null {
  const groups = new Map<string, string[]>();
  for (const [id, h] of hashes) {
    if (h["accepted_round"] === undefined) continue;
    const id3 = JSON.stringify([h["accepted_round"], h["accepted_node"], h["accepted_value"]]);
    groups.set(id3, [...(groups.get(id3) ?? []), id]);
  }
  for (const [id3, acceptors] of groups) {
    if (acceptors.length * 2 > hashes.size) {
      const [round, node, value] = JSON.parse(id3) as [string, string, string];
      return { round, node, value, acceptors };
    }
  }
  return null;
}

/**
 * Publishes one request and gathers replies until `count` arrived or `timeoutMs` passed
 * (the internal Paxos subjects answer once per acceptor, so a plain request sees only one).
 */
export async function gather(
  nc: NatsConnection, subject: string, data: string | Uint8Array, count: number,
  timeoutMs = 2000,
): Promise<Msg[]> {
  const inbox = createInbox();
  const replies: Msg[] = [];
  const sub = nc.subscribe(inbox, { max: count });
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
  const done = (async () => {
    for await (const msg of sub) {
      // The server's "no responders" status (503, headers only) is not a reply.
      if (msg.headers?.code === 503) break;
      replies.push(msg);
    }
  })();
  nc.publish(subject, data, { reply: inbox });
  await done;
  clearTimeout(timer);
  return replies;
}

/** One plain NATS request, the reply parsed as JSON (for subjects the client library guards). */
export async function requestJson(
  nc: NatsConnection, subject: string, data: string | Uint8Array = "", timeoutMs = 10_000,
): Promise<unknown> {
  const msg = await nc.request(subject, data, { timeout: timeoutMs });
  return JSON.parse(msg.string()) as unknown;
}

/** What the chosen log holds: each key's events (duplicates included), messages per subject. */
export interface LogContents {
  readonly events: Map<string, ChosenEvent[]>;
  readonly messages: number;
  readonly lastSequence: number;
  readonly subjects: Record<string, number>;
}

/** Reads the whole chosen log (either message form) with an ordered consumer. */
export async function readChosenLog(nc: NatsConnection, prefix: string): Promise<LogContents> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(CHOSEN_STREAM, { subjects_filter: ">" });
  const events = new Map<string, ChosenEvent[]>();
  const subjects = info.state.subjects ?? {};
  const lastSequence = info.state.last_seq;
  if (info.state.messages === 0) return { events, messages: 0, lastSequence, subjects };
  const consumer = await jetstream(nc).consumers.get(CHOSEN_STREAM);
  const messages = await consumer.consume();
  const timer = setTimeout(() => void messages.close(), 20_000);
  try {
    for await (const msg of messages) {
      const read = chosenEventsOf(prefix, msg.subject, msg.data);
      if (read.malformed.length > 0) throw new Error(`${read.malformed.join("; ")} at ${msg.seq}`);
      for (const event of read.events) {
        const list = events.get(event.key) ?? [];
        list.push(event);
        events.set(event.key, list);
      }
      if (msg.seq >= info.state.last_seq) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  return { events, messages: info.state.messages, lastSequence, subjects };
}

/** The key's chosen event on the log, or undefined; throws if the log holds two values. */
export async function eventOnLog(
  nc: NatsConnection, prefix: string, key: string,
): Promise<ChosenEvent | undefined> {
  const events = (await readChosenLog(nc, prefix)).events.get(key) ?? [];
  if (new Set(events.map((e) => e.value)).size > 1) {
    throw new Error(`two values for ${key} on the log: ${JSON.stringify(events)}`);
  }
  return events[0];
}

export function connectTo(cluster: LocalCluster): Promise<NatsConnection> {
  return connect({ servers: cluster.nats.url });
}

/** Runs `work` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Polls replica-get until a learner holds every one of `entries`; a wrong value fails at once.
 */
export async function waitReplicaHolds(
  client: PaxosKvClient, entries: ReadonlyMap<string, string>, concurrency = 100,
): Promise<void> {
  let missing = [...entries.keys()];
  await poll(`replicas to hold ${entries.size} keys`, async () => {
    const found = await mapLimit(missing, concurrency, async (key) => {
      const reply = await client.get(key, { replica: true });
      if (reply.found) expect(reply.value, key).toBe(entries.get(key));
      return reply.found;
    });
    missing = missing.filter((_, i) => !found[i]);
    return missing.length === 0 ? true : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

/** Closes what a test file opened on its cluster, then stops its nodes and every server. */
export async function tearDown(
  cluster: LocalCluster | undefined, ...opened: ({ close(): unknown } | undefined)[]
): Promise<void> {
  await Promise.allSettled(opened.map(async (o) => o?.close()));
  await cluster?.stopNodes();
  await cleanup();
}

/**
 * Spawns a node for every acceptor of `cluster`, one after another, each serving HTTP on a
 * port of its own (PAXOSKV_HTTP_PORT), with `env`: the nodes and their ports, by ID.
 */
export async function spawnWithHttp(cluster: LocalCluster, env: Record<string, string> = {}):
  Promise<{ nodes: Map<string, NodeProcess>; httpPorts: Map<string, number> }> {
  const nodes = new Map<string, NodeProcess>();
  const httpPorts = new Map<string, number>();
  for (const id of cluster.acceptors) {
    const port = await freePort();
    httpPorts.set(id, port);
    nodes.set(id, await cluster.spawnNode(id, undefined, { ...env, PAXOSKV_HTTP_PORT: String(port) }));
  }
  return { nodes, httpPorts };
}
