/**
 * The system under test for a chaos run, as child processes: a 3-server NATS cluster with
 * JetStream (the chosen stream has 3 replicas), one Redis per acceptor (AOF always; with
 * `redisCluster`, a 3-primary Redis Cluster per acceptor), nodes
 * A, B, C (proposer, acceptor, learner) and D (learner only). Node output goes to files in
 * the run dir. A supervisor notices processes that die when the nemesis did not kill them.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { Cluster, Redis } from "ioredis";
import { bucketOf, bucketTags } from "../../src/adapters/redis/buckets.js";
import type { AcceptorHash, AcceptorSnapshot } from "../../src/check/index.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import type { RedisClusterHandle, ServerHandle } from "../../src/dev/servers.js";
import { CHOSEN_STREAM } from "../../src/protocol/subjects.js";
import { chosenEventsOf } from "../../src/adapters/jetstream/chosen-log.js";
import { sleep } from "./workload.js";

export const NODE_ROLES: Readonly<Record<string, string>> = {
  A: "proposer,acceptor,learner", B: "proposer,acceptor,learner", C: "proposer,acceptor,learner",
  D: "learner",
};
export const ACCEPTORS = ["A", "B", "C"] as const;
export const CLIENT_TIMEOUT_MS = 5000;

/** A learner's view, from `$SRV.STATS` (the node's stats handler). */
export interface LearnerStats {
  readonly node: string;
  readonly replicaSize: number;
  readonly lag: number;
}

export class Harness {
  readonly nodes = new Map<string, NodeProcess>();
  /** Nodes the nemesis took down on purpose (the supervisor leaves them alone). */
  readonly expectedDown = new Set<string>();
  /** Deaths nobody asked for: node, time, last output. */
  readonly unexpectedDeaths: { node: string; at: number; output: string }[] = [];
  readonly failpointCrashes: { node: string; at: number; failpoint: string }[] = [];
  #supervisor: NodeJS.Timeout | null = null;
  #connections: NatsConnection[] = [];
  #redis = new Map<string, Redis | Cluster>();

  private constructor(
    readonly cluster: LocalCluster, readonly runDir: string, readonly now: () => number,
  ) {}

  static async start(runDir: string, now: () => number, logLevel = "info", redisCluster = false):
    Promise<Harness> {
    const cluster = await startLocalCluster({
      natsClusterSize: 3, logLevel, redisCluster,
      echo: (id, text) => appendFileSync(join(runDir, `node-${id}.log`), text),
    });
    const harness = new Harness(cluster, runDir, now);
    await harness.waitJetStream();
    await harness.startNodes();
    return harness;
  }

  get natsServers(): readonly ServerHandle[] {
    return this.cluster.natsServers;
  }

  /** The acceptor's Redis; on a Redis Cluster, its first primary (a shard of its keys). */
  redisServer(id: string): ServerHandle {
    const server = this.cluster.redis.get(id) ?? this.cluster.redisClusters.get(id)?.primaries[0];
    if (server === undefined) throw new Error(`no redis for ${id}`);
    return server;
  }

  /** Every Redis server of the acceptor: its Redis, or its cluster's primaries. */
  redisServers(id: string): ServerHandle[] {
    return [...this.redisCluster(id)?.primaries ?? [this.redisServer(id)]];
  }

  /** The acceptor's Redis Cluster; undefined with one Redis per acceptor. */
  redisCluster(id: string): RedisClusterHandle | undefined {
    return this.cluster.redisClusters.get(id);
  }

  node(id: string): NodeProcess {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Starts every node not running (retrying while NATS or JetStream comes back). */
  async startNodes(timeoutMs = 90_000): Promise<void> {
    await Promise.all(Object.keys(NODE_ROLES).map((id) => this.startNode(id, timeoutMs)));
  }

  async startNode(id: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const existing = this.nodes.get(id);
        if (existing === undefined) {
          this.nodes.set(id, await this.cluster.spawnNode(id, NODE_ROLES[id]));
        } else {
          await existing.start();
        }
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
  }

  /** Starts `id` with env extras as a separate process (e.g. armed failpoints). */
  spawnVariant(id: string, env: Record<string, string>): Promise<NodeProcess> {
    return this.cluster.spawnNode(id, NODE_ROLES[id], env);
  }

  /** Watches for nodes that die without the nemesis asking; restarts them. */
  supervise(): void {
    const check = async () => {
      for (const [id, node] of this.nodes) {
        if (node.running || this.expectedDown.has(id)) continue;
        const output = node.output();
        const failpoint = /FAILPOINT (\S+)/.exec(output.slice(-2000));
        if (failpoint === null) {
          this.unexpectedDeaths.push({ node: id, at: this.now(), output: output.slice(-3000) });
        }
        this.expectedDown.add(id);
        await this.startNode(id).catch(() => undefined);
        this.expectedDown.delete(id);
      }
    };
    const loop = () => {
      this.#supervisor = setTimeout(() => void check().finally(() => {
        if (this.#supervisor !== null) loop();
      }), 200);
    };
    loop();
  }

  stopSupervising(): void {
    if (this.#supervisor !== null) clearTimeout(this.#supervisor);
    this.#supervisor = null;
  }

  /** A client connection that reconnects forever to any server of the cluster. */
  async connect(name: string): Promise<NatsConnection> {
    const nc = await connect({
      servers: this.cluster.natsUrl.split(","), name, maxReconnectAttempts: -1,
      reconnectTimeWait: 250, waitOnFirstConnect: true,
    });
    this.#connections.push(nc);
    return nc;
  }

  async client(name: string): Promise<PaxosKvClient> {
    return new PaxosKvClient(await this.connect(name), { timeoutMs: CLIENT_TIMEOUT_MS });
  }

  /** Waits until the JetStream cluster answers API requests (after a start or a restart). */
  async waitJetStream(timeoutMs = 60_000): Promise<void> {
    const nc = await connect({ servers: this.cluster.natsUrl.split(","), maxReconnectAttempts: -1,
      waitOnFirstConnect: true });
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2000 });
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          await jsm.getAccountInfo();
          // After a restart the stream must have a leader again, not only the API.
          const info = await jsm.streams.info(CHOSEN_STREAM).catch((err: unknown) =>
            /not found/i.test(String(err)) ? null : Promise.reject(err));
          if (info === null || info.cluster?.leader !== undefined) return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`JetStream not ready: ${String(err)}`);
        }
        await sleep(250);
      }
    } finally {
      await nc.close();
    }
  }

  /** Every learner's replica size and lag, from `$SRV.STATS.paxoskv`. */
  async learnerStats(nc: NatsConnection, waitMs = 1000): Promise<LearnerStats[]> {
    const inbox = createInbox();
    const stats: LearnerStats[] = [];
    const sub = nc.subscribe(inbox, {
      callback: (_err, msg) => {
        try {
          const body = JSON.parse(msg.string()) as {
            metadata?: { node?: string };
            endpoints?: { name: string; data?: { replicaSize?: number; lag?: number } }[];
          };
          const data = body.endpoints?.find((e) => e.name === "replica-get")?.data;
          if (body.metadata?.node !== undefined && data?.replicaSize !== undefined) {
            stats.push({ node: body.metadata.node, replicaSize: data.replicaSize,
              lag: data.lag ?? 0 });
          }
        } catch {
          // not a stats reply
        }
      },
    });
    nc.publish("$SRV.STATS.paxoskv", "", { reply: inbox });
    await sleep(waitMs);
    sub.unsubscribe();
    return stats;
  }

  /** The chosen stream's message count and last sequence, or null when it does not answer. */
  async streamState(nc: NatsConnection): Promise<{ messages: number; lastSeq: number } | null> {
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 1500 });
      const { state } = await jsm.streams.info(CHOSEN_STREAM);
      return { messages: state.messages, lastSeq: state.last_seq };
    } catch {
      return null;
    }
  }

  /** The chosen stream's leader and replicas (current, lag), for diagnosing a stuck learner. */
  async streamCluster(nc: NatsConnection): Promise<string> {
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 2000 });
      const info = await jsm.streams.info(CHOSEN_STREAM);
      const consumers: string[] = [];
      for await (const c of jsm.consumers.list(CHOSEN_STREAM)) {
        consumers.push(`${c.name}@${c.cluster?.leader ?? "?"}:delivered=${c.delivered.stream_seq},pending=${c.num_pending}`);
      }
      return JSON.stringify({ leader: info.cluster?.leader, lastSeq: info.state.last_seq,
        replicas: info.cluster?.replicas?.map((r) => `${r.name}:${r.current ? "current" : "behind"},lag=${r.lag ?? 0}`),
        consumers });
    } catch (err) {
      return `unavailable (${String(err)})`;
    }
  }

  /**
   * The chosen log, key → its first value (what learners keep), read with an ordered consumer
   * from the start, in either message form. A key announced again with another value maps to
   * a marker that matches no value, so the checker reports it.
   */
  async streamMap(nc: NatsConnection): Promise<Map<string, string>> {
    const jsm: JetStreamManager = await jetstreamManager(nc, { checkAPI: false });
    const total = (await jsm.streams.info(CHOSEN_STREAM)).state.messages;
    const map = new Map<string, string>();
    if (total === 0) return map;
    const consumer = await jetstream(nc).consumers.get(CHOSEN_STREAM);
    const messages = await consumer.consume();
    const timer = setTimeout(() => void messages.close(), 30_000);
    for await (const msg of messages) {
      const read = chosenEventsOf(this.cluster.prefix, msg.subject, msg.data);
      if (read.malformed.length > 0) map.set(`<malformed at ${msg.seq}>`, read.malformed.join("; "));
      for (const event of read.events) {
        const held = map.get(event.key);
        if (held === undefined) map.set(event.key, event.value);
        else if (held !== event.value) map.set(event.key, `<second value ${event.value}>`);
      }
      if (msg.info.pending === 0) break;
    }
    clearTimeout(timer);
    await messages.close();
    return map;
  }

  #redisClient(id: string): Redis | Cluster {
    let client = this.#redis.get(id);
    if (client === undefined) {
      const options = { maxRetriesPerRequest: 0, commandTimeout: 1000, lazyConnect: false };
      const sharded = this.redisCluster(id);
      client = sharded === undefined
        ? new Redis(this.redisServer(id).url,
          { ...options, enableOfflineQueue: false, retryStrategy: () => 200 })
        : new Cluster(sharded.primaries.map((p) => ({ host: "127.0.0.1", port: p.port })),
          { redisOptions: options, clusterRetryStrategy: () => 200 });
      client.on("error", () => undefined);
      this.#redis.set(id, client);
    }
    return client;
  }

  /** The Redis key of a Paxos key's hash on acceptor `id` (see src/adapters/redis/). */
  #hashKey(id: string, key: string): string {
    return this.redisCluster(id) === undefined ? `${this.cluster.prefix}:acc:${id}:${key}`
      : `${this.cluster.prefix}:acc:{${bucketTags(id)[bucketOf(key)]}}:${key}`;
  }

  /** Hashes of `keys` on one acceptor now, or null when its Redis does not answer. */
  async sampleAcceptor(id: string, keys: readonly string[]): Promise<AcceptorSnapshot | null> {
    const client = this.#redisClient(id);
    const at = this.now();
    try {
      // A cluster's pipeline must stay in one slot: one command per key there.
      const results: [Error | null, unknown][] = client instanceof Cluster
        ? await Promise.all(keys.map((key) => client.hgetall(this.#hashKey(id, key))
          .then((hash): [null, unknown] => [null, hash], (err: Error): [Error, null] => [err, null])))
        : (await keys.reduce((p, key) => p.hgetall(this.#hashKey(id, key)), client.pipeline())
          .exec()) ?? [];
      const out: Record<string, AcceptorHash> = {};
      results.forEach(([err, hash], i) => {
        if (err === null && hash !== null && Object.keys(hash as object).length > 0) {
          out[keys[i] as string] = hash as AcceptorHash;
        }
      });
      if (results.some(([err]) => err !== null)) return null;
      return { at, acceptor: id, keys: out };
    } catch {
      return null;
    }
  }

  /**
   * Every key's hash on one acceptor (SCAN, then HGETALL in pipelines). Tried a few times: the
   * checker's client may still be reconnecting to a Redis the faults restarted, and on a loaded
   * machine a pipeline of thousands of reads can outlast its command timeout.
   */
  async snapshotAcceptor(id: string): Promise<AcceptorSnapshot> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#snapshotOnce(id);
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(1000);
      }
    }
  }

  async #snapshotOnce(id: string): Promise<AcceptorSnapshot> {
    const client = this.#redisClient(id);
    const sharded = client instanceof Cluster;
    // Every Redis key of the acceptor; on a cluster, on each primary, past the `{id:bucket}:` tag.
    const pattern = `${this.cluster.prefix}:acc:${sharded ? `{${id}:` : `${id}:`}*`;
    const keyOf = (name: string) => sharded ? name.slice(name.indexOf("}:") + 2)
      : name.slice(pattern.length - 1);
    const keys: string[] = [];
    // Every primary the cluster was made of (the client's own list lacks one it is still
    // reconnecting to, which would make its keys look vanished).
    const primaries = this.redisCluster(id)?.primaries.map((p) => new Redis(p.url,
      { maxRetriesPerRequest: 0, commandTimeout: 5000 }));
    try {
      for (const node of primaries ?? [client]) {
        let cursor = "0";
        do {
          const [next, page] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
          cursor = next;
          keys.push(...page.map(keyOf).filter((k) => !k.startsWith("~")));
        } while (cursor !== "0");
      }
    } finally {
      for (const node of primaries ?? []) node.disconnect();
    }
    // In pipelines of 500: each must finish within the client's 1 s command timeout, which a
    // single pipeline of every key (13,646 in a 300 s run) can outlast on a loaded machine.
    const at = this.now();
    const hashes: Record<string, AcceptorHash> = {};
    for (let i = 0; i < keys.length || i === 0; i += 500) {
      const part = await this.sampleAcceptor(id, keys.slice(i, i + 500));
      if (part === null) throw new Error(`acceptor ${id}: redis did not answer the snapshot`);
      Object.assign(hashes, part.keys);
    }
    return { at, acceptor: id, keys: hashes, complete: true };
  }

  /** Lines in node logs that say a safety check or an invariant failed. */
  alarmsInLogs(): string[] {
    const alarms: string[] = [];
    for (const id of Object.keys(NODE_ROLES)) {
      let text = "";
      try {
        text = readFileSync(join(this.runDir, `node-${id}.log`), "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n")) {
        if (/SAFETY VIOLATION|uncaught exception|AssertionFailure|"level":"fatal"/.test(line)) {
          alarms.push(`${id}: ${line.slice(0, 400)}`);
        }
      }
    }
    return alarms;
  }

  /** Kills everything of the run: nodes, servers, connections. */
  async close(): Promise<void> {
    this.stopSupervising();
    for (const client of this.#redis.values()) client.disconnect();
    await Promise.allSettled(this.#connections.map((nc) => nc.close()));
    await this.cluster.stopNodes();
  }
}
