import { createHash, randomUUID } from "node:crypto";
import { Cluster, type ChainableCommander, type Redis } from "ioredis";
import type { AcceptorState } from "../../core/acceptor.js";
import { assert } from "../../core/assert.js";
import { isValidNodeId } from "../../core/ballot.js";
import type {
  MsgAccept, MsgAccepted, MsgNack, MsgPrepare, MsgPromise,
} from "../../core/messages.js";
import {
  AcceptorFencedError, type AcceptorStore, type Durability, type KeyPage, type RestoredKey,
  type StorePart,
} from "../ports.js";
import { BUCKET_COUNT, bucketOf, bucketTags, slotOfTag } from "./buckets.js";
import {
  acceptLua, FENCE_INCOMPLETE_LUA, FENCED_ERROR, HEAL_CLAIM_MS, prepareLua, readLua,
  RELEASE_HEAL_LUA, RENEW_HEAL_LUA, RESTORE_BUCKET_LUA, RETIRE_LUA,
} from "./scripts.js";
import {
  acceptedOf, ballotArgs, batchName, promiseOf, reconnectDelayMs, restoredFields,
  RedisStoreError, stateOf, type ScriptReply,
} from "./store.js";

export interface RedisClusterStoreOptions {
  /** The acceptor whose state this store holds (a node ID). */
  readonly acceptorId: string;
  /** Seed nodes of the cluster, `redis://[user:pass@]host:port` (the first gives the auth). */
  readonly seeds: readonly string[];
  /** Key prefix; hashes are `${prefix}:acc:{<bucket's tag>}:${key}` (`bucketTags`). */
  readonly prefix?: string;
  /** A command without a reply after this long fails (a hung shard). Default 5000. */
  readonly commandTimeoutMs?: number;
  readonly onConnectionError?: (error: Error) => void;
  readonly onReady?: () => void;
}

/** The scripts registered on the cluster client (EVALSHA, routed by the first key's slot). */
type ScriptedCluster = Cluster & {
  paxoskvPrepare(...args: (string | number)[]): Promise<ScriptReply[]>;
  paxoskvAccept(...args: (string | number)[]): Promise<ScriptReply[]>;
  paxoskvRetire(...args: (string | number)[]): Promise<number>;
  paxoskvRead(...args: (string | number)[]): Promise<(string | null)[]>;
  paxoskvRestoreBucket(...args: (string | number)[]): Promise<number>;
};

type ScriptName = "paxoskvPrepare" | "paxoskvAccept";
type ScriptArgs = (string | number)[];
/** A pipeline with the scripts registered (each call queues; `exec` sends them at once). */
type ScriptedPipeline = ChainableCommander & Record<ScriptName, (...args: ScriptArgs) => unknown>;
/** Queues one bucket's command on a pipeline, or sends it on its own (to the cluster). */
type PerBucketSend = (to: ScriptedCluster | ScriptedPipeline) => unknown;

/** Errors of a call that met a slot moving between primaries: sent again on its own. */
const REDIRECTED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/;

/** The marker a store whose buckets disagree reports: never registered, so refused. */
export const MIXED_PREFIX = "mixed:";

const BUCKETS = Array.from({ length: BUCKET_COUNT }, (_, b) => b);

/**
 * An acceptor's Paxos state over a Redis Cluster: the same scripts as `RedisAcceptorStore`,
 * run once per bucket (see `buckets.ts`) with that bucket's hashes, unannounced set, write
 * counter and incarnation marker, which share one slot. Each bucket is fenced on its own: a
 * primary that lost its data (wiped, or replaced by an empty one) lost its buckets' markers,
 * so exactly their keys refuse to vote (null replies) while the other buckets keep voting.
 */
export class RedisClusterAcceptorStore implements AcceptorStore {
  readonly acceptorId: string;
  readonly #prefix: string;
  readonly #cluster: ScriptedCluster;
  /** The incarnation the scripts require in each bucket's marker; "" refuses all. */
  #servingAs = "";
  /** The renewal timers of the heals under way (their reservations), by nonce. */
  readonly #renewals = new Map<string, NodeJS.Timeout>();

  constructor(options: RedisClusterStoreOptions) {
    assert(isValidNodeId(options.acceptorId), `invalid acceptor ID: ${options.acceptorId}`);
    assert(options.seeds.length > 0, "a cluster store needs at least one seed");
    this.acceptorId = options.acceptorId;
    this.#prefix = options.prefix ?? "paxoskv";
    const first = new URL(options.seeds[0] ?? "");
    const cluster = new Cluster(options.seeds.map((seed) => {
      const url = new URL(seed);
      return { host: url.hostname, port: Number(url.port === "" ? 6379 : url.port) };
    }), {
      clusterRetryStrategy: reconnectDelayMs,
      // Off: it routes a script by its first argument (the key count), not its first key.
      // A batch's calls are pipelined per primary by hand instead (#scriptPerBucket).
      enableAutoPipelining: false,
      // A slot being resharded answers TRYAGAIN while its keys are split between two primaries.
      retryDelayOnTryAgain: 50,
      maxRedirections: 64,
      slotsRefreshTimeout: 2000,
      redisOptions: {
        ...(first.username === "" ? {} : { username: decodeURIComponent(first.username) }),
        ...(first.password === "" ? {} : { password: decodeURIComponent(first.password) }),
        ...(first.protocol === "rediss:" ? { tls: {} } : {}),
        maxRetriesPerRequest: 1,
        commandTimeout: options.commandTimeoutMs ?? 5000,
        connectTimeout: 2000,
      },
    });
    cluster.on("error", (error: Error) => options.onConnectionError?.(error));
    cluster.on("ready", () => options.onReady?.());
    cluster.defineCommand("paxoskvPrepare", { lua: prepareLua(true) });
    cluster.defineCommand("paxoskvAccept", { lua: acceptLua(true) });
    cluster.defineCommand("paxoskvRead", { lua: readLua(true) });
    cluster.defineCommand("paxoskvRetire", { lua: RETIRE_LUA });
    cluster.defineCommand("paxoskvRestoreBucket", { lua: RESTORE_BUCKET_LUA });
    this.#cluster = cluster as ScriptedCluster;
  }

  /** `{<tag>}`: the hash tag that keeps one bucket alone in one slot. */
  #tag(bucket: number): string {
    return `${this.#prefix}:acc:{${this.#tags[bucket]}}:`;
  }

  get #tags(): readonly string[] {
    return bucketTags(this.acceptorId);
  }

  #slot(bucket: number): number {
    return slotOfTag(this.#tags[bucket] ?? "");
  }

  /** The Redis key of one Paxos key's hash. */
  hashKey(key: string): string {
    return `${this.#tag(bucketOf(key))}${key}`;
  }

  /** `~` never occurs in a Paxos key, so these cannot collide with a key's hash. */
  #markerKey(bucket: number): string {
    return `${this.#tag(bucket)}~incarnation`;
  }

  #writesKey(bucket: number): string {
    return `${this.#tag(bucket)}~writes`;
  }

  #unannouncedKey(bucket: number): string {
    return `${this.#tag(bucket)}~unannounced`;
  }

  /** How many hashes the bucket holds, kept by the scripts (see CLUSTER_LUA in scripts.ts). */
  #keyCountKey(bucket: number): string {
    return `${this.#tag(bucket)}~keys`;
  }

  /** The nonce of a heal under way (RESTORE_BUCKET_LUA). */
  #healingKey(bucket: number): string {
    return `${this.#tag(bucket)}~healing`;
  }

  /** Never written: a script that names it runs only while the bucket's slot is not moving. */
  #probeKey(bucket: number): string {
    return `${this.#tag(bucket)}~probe`;
  }

  serveAs(incarnation: string | null): void {
    this.#servingAs = incarnation ?? "";
  }

  async prepare(msg: MsgPrepare): Promise<MsgPromise | MsgNack | null> {
    return only(await this.prepareMany([msg]));
  }

  async accept(msg: MsgAccept): Promise<MsgAccepted | MsgNack | null> {
    return only(await this.acceptMany([msg]));
  }

  /** One script call per bucket of the batch; one pipeline (one fsync) per primary. */
  async prepareMany(msgs: readonly MsgPrepare[]): Promise<(MsgPromise | MsgNack | null)[]> {
    return this.#perBucket("prepare", msgs, (bucket, items) => {
      const keys = [...items.map((m) => this.hashKey(m.key)), this.#writesKey(bucket),
        this.#markerKey(bucket), this.#keyCountKey(bucket)];
      const args = [...items.flatMap((m) => ballotArgs(m.ballot)), this.#servingAs];
      return ["paxoskvPrepare", [keys.length, ...keys, ...args]];
    }, (msg, reply) => promiseOf(this.acceptorId, msg, reply));
  }

  async acceptMany(msgs: readonly MsgAccept[]): Promise<(MsgAccepted | MsgNack | null)[]> {
    return this.#perBucket("accept", msgs, (bucket, items) => {
      const keys = [...items.map((m) => this.hashKey(m.key)), this.#unannouncedKey(bucket),
        this.#writesKey(bucket), this.#markerKey(bucket), this.#keyCountKey(bucket)];
      const args = [...items.flatMap((m) => [...ballotArgs(m.ballot), m.value, m.key]),
        this.#servingAs];
      return ["paxoskvAccept", [keys.length, ...keys, ...args]];
    }, (msg, reply) => acceptedOf(this.acceptorId, msg, reply));
  }

  /**
   * Splits a batch by bucket, one script call each (`call` names it). A bucket whose marker
   * is not the one served as (fenced) answers null for its keys; a bucket whose shard failed
   * too, unless every bucket failed: then the batch fails.
   */
  async #perBucket<M extends { readonly key: string }, R>(
    operation: string, msgs: readonly M[],
    call: (bucket: number, items: M[]) => [ScriptName, ScriptArgs],
    parse: (msg: M, reply: ScriptReply) => R,
  ): Promise<(R | null)[]> {
    const groups = new Map<number, number[]>();
    for (const [i, msg] of msgs.entries()) {
      const bucket = bucketOf(msg.key);
      const group = groups.get(bucket) ?? [];
      group.push(i);
      groups.set(bucket, group);
    }
    const settled = await this.#scriptPerBucket([...groups].map(([bucket, indexes]) =>
      [bucket, ...call(bucket, indexes.map((i) => msgs[i] as M))]));
    const replies: (R | null)[] = msgs.map(() => null);
    let failure: unknown = null;
    let failed = 0;
    for (const [g, [, indexes]] of [...groups].entries()) {
      const result = settled[g];
      if (result?.status === "fulfilled") {
        assert(result.value.length === indexes.length, `${operation} reply has the wrong length`);
        for (const [j, i] of indexes.entries()) {
          replies[i] = parse(msgs[i] as M, result.value[j] ?? []);
        }
      } else if (!isFenced(result?.reason)) {
        failed++;
        failure = result?.reason;
      }
    }
    if (failed === groups.size) throw new RedisStoreError(operation, batchName(msgs), failure);
    return replies;
  }

  /** One script call per bucket (see #perPrimary). */
  async #scriptPerBucket(calls: readonly [number, ScriptName, ScriptArgs][]):
    Promise<PromiseSettledResult<ScriptReply[]>[]> {
    return this.#perPrimary(calls.map(([bucket, name, args]) =>
      [bucket, (to) => to[name](...args)]));
  }

  /**
   * Sends one command per bucket: those for buckets on one primary in one pipeline, one
   * write, which Redis reads, runs and fsyncs together (one fsync for all of them under
   * appendfsync always). A command that met a moving slot (a reshard) goes again on its own,
   * following the cluster's redirections.
   */
  async #perPrimary<T>(calls: readonly (readonly [bucket: number, send: PerBucketSend])[]):
    Promise<PromiseSettledResult<T>[]> {
    const direct = (i: number) =>
      settle((calls[i] as [number, PerBucketSend])[1](this.#cluster) as Promise<T>);
    const byPrimary = new Map<string, number[]>();
    for (const [i, [bucket]] of calls.entries()) {
      const nodes = this.#cluster.slots[this.#slot(bucket)];
      const primary = nodes === undefined || nodes.length === 0 ? `unknown ${i}` : nodes.join(",");
      const indexes = byPrimary.get(primary) ?? [];
      indexes.push(i);
      byPrimary.set(primary, indexes);
    }
    const results: PromiseSettledResult<T>[] = [];
    await Promise.all([...byPrimary.values()].map(async (indexes) => {
      if (indexes.length === 1) {
        results[indexes[0] as number] = await direct(indexes[0] as number);
        return;
      }
      const pipeline = this.#cluster.pipeline() as ScriptedPipeline;
      for (const i of indexes) (calls[i] as [number, PerBucketSend])[1](pipeline);
      const replies = await pipeline.exec().catch((err: unknown) => indexes.map(() => [err]));
      await Promise.all(indexes.map(async (i, j) => {
        const [err, value] = replies?.[j] ?? [new Error("no reply in the pipeline")];
        results[i] = err === null || err === undefined
          ? { status: "fulfilled", value: value as T }
          : err instanceof Error && REDIRECTED.test(err.message)
            ? await direct(i) : { status: "rejected", reason: err };
      }));
    }));
    return results;
  }

  /**
   * #perPrimary for commands that must all succeed: it waits for every one and then fails if
   * any did (the others took effect).
   */
  async #allPerPrimary<T>(operation: string,
    calls: readonly (readonly [bucket: number, send: PerBucketSend])[]): Promise<T[]> {
    const settled = await this.#perPrimary<T>(calls);
    return settled.map((result) => {
      if (result.status === "rejected") throw new RedisStoreError(operation, null, result.reason);
      return result.value;
    });
  }

  async read(key: string): Promise<AcceptorState | null> {
    const bucket = bucketOf(key);
    let fields: (string | null)[];
    try {
      fields = await this.#cluster.paxoskvRead(4, this.hashKey(key), this.#writesKey(bucket),
        this.#markerKey(bucket), this.#keyCountKey(bucket), "0", this.#servingAs);
    } catch (error) {
      if (isFenced(error)) return null;
      throw new RedisStoreError("read", key, error);
    }
    return stateOf(key, fields);
  }

  /**
   * Each bucket's marker and counter. A bucket whose primary does not answer (down, hung) is
   * `unreadable`, so one primary down does not hide the others' parts; all unreadable: fails.
   */
  async parts(): Promise<readonly StorePart[]> {
    const settled = await Promise.all(BUCKETS.map((b) => settle(Promise.all([
      this.#cluster.get(this.#markerKey(b)), this.#cluster.get(this.#writesKey(b))]))));
    const failed = settled.find((s) => s.status === "rejected");
    if (failed !== undefined && settled.every((s) => s.status === "rejected")) {
      throw new RedisStoreError("GET", null, failed.reason);
    }
    return settled.map((s) => {
      if (s.status === "rejected") return { marker: null, writes: 0, unreadable: true };
      const [marker, writes] = s.value;
      return { marker: marker ?? null, writes: writes == null ? 0 : Number(writes) };
    });
  }

  /** The marker every bucket that has one carries; MIXED_PREFIX when they disagree. */
  async incarnation(): Promise<string | null> {
    const markers = new Set((await this.parts()).flatMap((p) => p.marker ?? []));
    if (markers.size <= 1) return [...markers][0] ?? null;
    return `${MIXED_PREFIX}${[...markers].sort().join("|")}`;
  }

  /** Retires the marker in every bucket that carries it (each one compare-and-set). */
  async retireIncarnation(incarnation: string, replacement: string): Promise<boolean> {
    const replaced = await this.#call("retire", () => Promise.all(BUCKETS.map((b) =>
      this.#cluster.paxoskvRetire(1, this.#markerKey(b), incarnation, replacement))));
    return replaced.some((r) => r === 1);
  }

  async unannounced(minAgeSeconds: number, offset: number, count: number): Promise<string[]> {
    const [seconds] = await this.#call("TIME", () => this.#cluster.time());
    const max = Number(seconds) - minAgeSeconds;
    // One command each, not a pipeline: ioredis retries a pipeline of reads that met a moved
    // slot as a whole, which then fails (its slots no longer share a primary).
    const sizes = await this.#call("ZCOUNT", () => Promise.all(BUCKETS.map((b) =>
      this.#cluster.zcount(this.#unannouncedKey(b), "-inf", max))));
    // The work list is the buckets' sets one after the other; the page is a window on it.
    const pages: Promise<string[]>[] = [];
    let skip = offset;
    let wanted = count;
    for (const b of BUCKETS) {
      const size = sizes[b] ?? 0;
      if (wanted === 0) break;
      if (skip >= size) {
        skip -= size;
        continue;
      }
      const take = Math.min(size - skip, wanted);
      pages.push(this.#cluster.zrangebyscore(this.#unannouncedKey(b), "-inf", max, "LIMIT",
        skip, take));
      skip = 0;
      wanted -= take;
    }
    return (await this.#call("ZRANGEBYSCORE", () => Promise.all(pages))).flat();
  }

  async markAnnounced(keys: readonly string[]): Promise<void> {
    const groups = new Map<number, string[]>();
    for (const key of keys) {
      const bucket = bucketOf(key);
      const group = groups.get(bucket) ?? [];
      group.push(key);
      groups.set(bucket, group);
    }
    await this.#allPerPrimary("ZREM", [...groups].map(([b, members]) =>
      [b, (to) => to.zrem(this.#unannouncedKey(b), ...members)]));
  }

  async holdsState(): Promise<boolean> {
    let cursor = "0";
    do {
      const page = await this.#scan(cursor, 1000);
      if (page.keys.length > 0) return true;
      cursor = page.cursor;
    } while (cursor !== "0");
    return false;
  }

  /** Deletes every Redis key of this acceptor on every primary; again if slots moved. */
  async clear(): Promise<void> {
    for (;;) {
      const before = await this.#topology();
      for (const address of before.primaries) {
        const node = this.#node(address);
        let cursor = "0";
        do {
          const [next, names] = await this.#call("SCAN", () => node.scan(cursor, "MATCH",
            this.#pattern, "COUNT", 1000));
          // One DEL per key: the keys of one page span many slots.
          await this.#call("DEL", () => Promise.all(names.map((n) => this.#cluster.del(n))));
          cursor = next;
        } while (cursor !== "0");
      }
      if ((await this.#topology()).id === before.id) return;
    }
  }

  /** After `clear`: every bucket's states, then its marker (see `restoreParts`). */
  async restore(entries: readonly RestoredKey[], incarnation: string): Promise<void> {
    const marked = await this.restoreParts(entries, BUCKETS, incarnation, BUCKETS.map(() => 0));
    if (marked.length < BUCKETS.length) {
      throw new RedisStoreError("restore", null, new Error(`${BUCKETS.length - marked.length} ` +
        "buckets were marked by another process during the restore"));
    }
  }

  partOf(key: string): number {
    return bucketOf(key);
  }

  /** Reserves the lost `parts` for one heal (see the port, and RESTORE_BUCKET_LUA). */
  async claimParts(parts: readonly number[]): Promise<string> {
    const nonce = randomUUID();
    const claimed = await Promise.allSettled(parts.map((b) =>
      this.#markBucket(b, [], "0", nonce, "claim", ["", 0])));
    const refused = parts.filter((_, i) => {
      const r = claimed[i];
      return r?.status !== "fulfilled" || r.value !== 1;
    });
    if (refused.length === 0) {
      // A heal of many keys may outlast the reservation: renewed until it is released.
      const renew = setInterval(() => void Promise.all(parts.map((b) =>
        this.#cluster.eval(RENEW_HEAL_LUA, 1, this.#healingKey(b), nonce, HEAL_CLAIM_MS)))
        .catch(() => undefined), HEAL_CLAIM_MS / 4);
      renew.unref();
      this.#renewals.set(nonce, renew);
      return nonce;
    }
    await this.releaseParts(parts, nonce).catch(() => undefined);
    const failed = claimed.find((r) => r.status === "rejected");
    if (failed !== undefined) throw new RedisStoreError("claim", null, failed.reason);
    throw new RedisStoreError("claim", null, new Error(`${refused.length} of the lost buckets ` +
      "are being healed by another rejoin, or were healed meanwhile: rejoin again later"));
  }

  async releaseParts(parts: readonly number[], nonce: string): Promise<void> {
    clearInterval(this.#renewals.get(nonce));
    this.#renewals.delete(nonce);
    await this.#call("release", () => Promise.all(parts.map((b) =>
      this.#cluster.eval(RELEASE_HEAL_LUA, 1, this.#healingKey(b), nonce))));
  }

  /**
   * Heals buckets that lost their state while the others vote: per bucket, the recovered
   * states, then its counter (at least its mark) and the marker `incarnation`, each step only
   * while the bucket has no marker (RESTORE_BUCKET_LUA): a bucket another process healed first
   * votes already and is left alone. Answers the buckets it marked.
   */
  async restoreParts(
    entries: readonly RestoredKey[], parts: readonly number[], incarnation: string,
    marks: readonly number[], claimed?: string,
  ): Promise<number[]> {
    const [seconds] = await this.#call("TIME", () => this.#cluster.time());
    const byBucket = new Map<number, RestoredKey[]>(parts.map((b) => [b, []]));
    for (const entry of entries) {
      const items = byBucket.get(bucketOf(entry.key));
      assert(items !== undefined, `key ${entry.key} is not in a bucket being restored`);
      items.push(entry);
    }
    // Every bucket's calls end before this answers, so a failed heal leaves nothing running.
    const settled = await Promise.allSettled([...byBucket].map(async ([bucket, items]) => {
      // Chunks of 200 keys; the last call also marks the bucket, the first leaves the nonce
      // (unless the buckets were claimed with one).
      const nonce = claimed ?? randomUUID();
      const chunks = items.length === 0 ? 1 : Math.ceil(items.length / 200);
      for (let c = 0; c < chunks; c++) {
        const last = c === chunks - 1;
        const wrote = await this.#markBucket(bucket, items.slice(c * 200, (c + 1) * 200),
          String(seconds ?? "0"), nonce, c === 0 && claimed === undefined ? "begin" : "continue",
          last ? [incarnation, marks[bucket] ?? 0] : ["", 0]);
        if (wrote === 0) return null; // another process marked it first: it votes
        if (wrote === -1) {
          throw new RedisStoreError("restore", null, new Error(`bucket ${bucket} lost what ` +
            "this heal had written or its reservation (its primary wiped meanwhile?): heal " +
            "it again"));
        }
      }
      return bucket;
    }));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    return settled.flatMap((r) => r.status === "fulfilled" && r.value !== null ? [r.value] : []);
  }

  /**
   * One RESTORE_BUCKET_LUA call: 1 written, 0 the bucket was marked already, -1 cut short, -2
   * reserved by another heal.
   */
  async #markBucket(bucket: number, items: readonly RestoredKey[], time: string, nonce: string,
    step: "claim" | "begin" | "continue", mark: readonly [string, number]): Promise<number> {
    const keys = [...items.map((e) => this.hashKey(e.key)), this.#unannouncedKey(bucket),
      this.#writesKey(bucket), this.#markerKey(bucket), this.#keyCountKey(bucket),
      this.#healingKey(bucket)];
    const args = [...items.flatMap(({ key, state }) => {
      const fields = restoredFields(state);
      return [key, fields.length, ...fields];
    }), time, nonce, step, ...mark];
    return this.#call("restore", () => this.#cluster.paxoskvRestoreBucket(keys.length, ...keys,
      ...args));
  }

  /**
   * A reshard moves a slot's keys one by one, so until it ends a bucket's hashes, counter and
   * marker may be split between the two primaries. If the other side of a moving slot is gone
   * (failed, unreachable, or no longer in the cluster: its keys may be lost), closing the slot
   * would leave the marker with only part of the keys, a bucket voting with forgotten state.
   * So each such bucket's marker is deleted where it is (ASKING on the importing side): the
   * bucket is lost, refuses, and heals by `acceptor rejoin`. A side wiped and back under the
   * same node ID does not look gone; its buckets are caught by their key counts instead, here
   * for quiet buckets (#fenceIncomplete) and by the scripts for the others. Answers the buckets
   * fenced.
   */
  async fenceIncompleteParts(): Promise<number[]> {
    const bySlot = new Map<number, number[]>();
    for (const b of BUCKETS) {
      const slot = this.#slot(b);
      bySlot.set(slot, [...bySlot.get(slot) ?? [], b]);
    }
    const fenced: number[] = [];
    // Every primary at once: a hung one costs one command timeout.
    await Promise.all(this.#cluster.nodes("master").map(async (node) => {
      let view: string;
      try {
        view = await node.cluster("NODES") as string;
      } catch {
        return; // a primary down: its own moves are fenced from the other side
      }
      const lines = view.split("\n").filter((l) => l.trim() !== "");
      const myself = lines.find((l) => l.split(" ")[2]?.split(",").includes("myself"));
      fenced.push(...await this.#fenceIncomplete(node, ownedSlots(myself), bySlot));
      for (const [, slot, arrow, other] of myself?.matchAll(/\[(\d+)-([<>])-(\w+)\]/g) ?? []) {
        const buckets = bySlot.get(Number(slot));
        if (buckets === undefined) continue;
        const peer = lines.find((l) => l.startsWith(`${other} `))?.split(" ");
        const flags = peer?.[2]?.split(",") ?? [];
        const gone = peer === undefined || peer[7] !== "connected" ||
          flags.some((f) => f === "fail" || f === "fail?" || f === "noaddr");
        if (!gone) continue;
        for (const b of buckets) {
          const pipeline = node.pipeline();
          if (arrow === "<") pipeline.asking(); // importing: its keys are served only after ASKING
          pipeline.del(this.#markerKey(b));
          const replies = await pipeline.exec();
          if (replies?.at(-1)?.[1] === 1) fenced.push(b);
        }
      }
    }));
    return fenced.sort((x, y) => x - y);
  }

  /**
   * Fences the buckets on `node` whose slot holds another number of keys than they counted
   * (FENCE_INCOMPLETE_LUA): a quiet bucket that lost keys, which no script met since. A bucket
   * whose slot is moving is not checked (Redis refuses the script), nor one that moved away.
   */
  async #fenceIncomplete(node: Redis, slots: readonly number[],
    bySlot: ReadonlyMap<number, readonly number[]>): Promise<number[]> {
    const buckets = slots.flatMap((slot) => bySlot.get(slot) ?? []);
    if (buckets.length === 0) return [];
    const run = () => {
      const pipeline = node.pipeline();
      for (const b of buckets) {
        pipeline.evalsha(FENCE_INCOMPLETE_SHA, 3, this.#probeKey(b), this.#markerKey(b),
          this.#keyCountKey(b));
      }
      return pipeline.exec();
    };
    let replies = await run().catch(() => null);
    if (replies?.some(([err]) => err instanceof Error && err.message.startsWith("NOSCRIPT"))) {
      await node.script("LOAD", FENCE_INCOMPLETE_LUA).catch(() => undefined);
      replies = await run().catch(() => null);
    }
    return buckets.filter((_, i) => replies?.[i]?.[1] === 1);
  }

  async scanKeys(cursor: string, count: number): Promise<KeyPage> {
    // While serving, a listing must not leave out the keys of a bucket that lost its state
    // (a rebuild or another acceptor's rejoin counts it as complete).
    if (this.#servingAs !== "") {
      const parts = await this.parts();
      const lost = parts.filter((p) => p.marker !== this.#servingAs && !p.unreadable).length;
      if (lost === parts.length) {
        throw new AcceptorFencedError(`acceptor ${this.acceptorId}: ${FENCED_ERROR} its Redis ` +
          "Cluster no longer holds the registered state");
      }
      if (lost > 0) {
        throw new RedisStoreError("list", null, new Error(`${lost} buckets lost their state ` +
          "(a wiped shard): a listing would leave out their keys"));
      }
      const unreadable = parts.filter((p) => p.unreadable).length;
      if (unreadable > 0) {
        throw new RedisStoreError("list", null, new Error(`${unreadable} buckets do not answer ` +
          "(a primary down): a listing would leave out their keys"));
      }
    }
    return this.#scan(cursor, count);
  }

  /**
   * One page of a scan over every primary, in address order. The cursor names the slot map
   * it started under (`<map>/<primary>/<cursor>`): a page under another map, or while a slot
   * is moving, fails (list again) rather than miss a key that moved behind the scan.
   */
  async #scan(cursor: string, count: number): Promise<KeyPage> {
    const topology = await this.#topology();
    let index = 0;
    let inner = "0";
    if (cursor !== "0") {
      const [map, at, rest] = cursor.split("/");
      if (map !== topology.id) {
        throw new RedisStoreError("SCAN", null, new Error("the cluster's slots moved during " +
          "this listing: list again"));
      }
      index = Number(at);
      inner = rest ?? "";
      if (!Number.isInteger(index) || index < 0 || !/^\d+$/.test(inner)) {
        throw new RedisStoreError("SCAN", null, new Error(`malformed cursor ${cursor}`));
      }
    }
    const address = topology.primaries[index];
    if (address === undefined) return { cursor: "0", keys: [] };
    const [next, names] = await this.#call("SCAN", () => this.#node(address).scan(inner,
      "MATCH", this.#pattern, "COUNT", count));
    // Checked again after the SCAN: a slot that moved from this primary onto one already
    // scanned between the check above and the SCAN would be missed.
    if ((await this.#topology()).id !== topology.id) {
      throw new RedisStoreError("SCAN", null, new Error("the cluster's slots moved during " +
        "this listing: list again"));
    }
    const keys = names.flatMap((name) => {
      const key = name.slice(name.indexOf("}:") + 2);
      return key.startsWith("~") ? [] : [key];
    });
    const last = next === "0" && index + 1 >= topology.primaries.length;
    const following = next === "0" ? `${topology.id}/${index + 1}/0`
      : `${topology.id}/${index}/${next}`;
    return { cursor: last ? "0" : following, keys };
  }

  /** Every Redis key of this acceptor, on one primary. */
  get #pattern(): string {
    return `${this.#prefix}:acc:{${this.acceptorId}:*`;
  }

  /** The slot map (an ID) and its primaries; fails while a slot is moving. */
  async #topology(): Promise<{ id: string; primaries: string[] }> {
    const slots = await this.#call("CLUSTER SLOTS", () => this.#cluster.cluster("SLOTS"));
    const owned = slots.map(([from, to, primary]) =>
      ({ range: `${from}-${to}`, address: `${primary?.[0]}:${primary?.[1]}` }));
    const ranges = owned.map((o) => `${o.range}@${o.address}`).sort();
    const primaries = [...new Set(owned.map((o) => o.address))].sort();
    const views = await this.#call("CLUSTER NODES", () => Promise.all(primaries.map((a) =>
      this.#node(a).cluster("NODES") as Promise<string>)));
    // `[slot->-id]` / `[slot-<-id]` on a primary's own line: a slot migrating or importing.
    if (views.some((view) => /myself[^\n]*\[/.test(view))) {
      throw new RedisStoreError("SCAN", null, new Error("a slot is moving between primaries " +
        "(a reshard): list again when it is done"));
    }
    return { id: String(fnv(ranges.join(","))), primaries };
  }

  #node(address: string): Redis {
    const node = this.#cluster.nodes("master").find((n) =>
      `${n.options.host}:${n.options.port}` === address);
    if (node === undefined) {
      this.#cluster.refreshSlotsCache();
      throw new RedisStoreError("SCAN", null, new Error(`primary ${address} is not known yet`));
    }
    return node;
  }

  /** Durable only when every primary is (AOF with `appendfsync always`). */
  async durability(): Promise<Durability> {
    await this.#connected();
    const primaries = this.#cluster.nodes("master");
    const each = await this.#call("CONFIG GET", () => Promise.all(primaries.map(async (node) => {
      const [appendonly, appendfsync] = await Promise.all(["appendonly", "appendfsync"].map(
        async (name) => ((await node.config("GET", name)) as unknown[])[1]));
      const server = await node.info("server");
      return {
        appendonly: appendonly === "yes", appendfsync: String(appendfsync),
        version: /redis_version:([^\r\n]+)/.exec(server)?.[1] ?? "unknown",
      };
    })));
    const appendonly = each.every((d) => d.appendonly);
    const fsyncs = [...new Set(each.map((d) => d.appendfsync))];
    const appendfsync = fsyncs.length === 1 ? (fsyncs[0] ?? "unknown") : fsyncs.join("|");
    return {
      appendonly, appendfsync, durable: appendonly && appendfsync === "always",
      version: each[0]?.version ?? "unknown",
    };
  }

  /** Waits (a connect timeout at most) until the client knows the cluster's primaries. */
  async #connected(): Promise<void> {
    if (this.#cluster.status !== "ready") {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#cluster.off("ready", ready);
          reject(new RedisStoreError("connect", null, new Error("the cluster is not reachable")));
        }, 2000);
        const ready = () => {
          clearTimeout(timer);
          resolve();
        };
        this.#cluster.once("ready", ready);
      });
    }
  }

  async close(): Promise<void> {
    for (const renew of this.#renewals.values()) clearInterval(renew);
    if (this.#cluster.status === "ready") {
      await this.#cluster.quit().catch(() => this.#cluster.disconnect());
    } else {
      this.#cluster.disconnect();
    }
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof RedisStoreError) throw error;
      throw new RedisStoreError(operation, null, error);
    }
  }
}

const FENCE_INCOMPLETE_SHA = createHash("sha1").update(FENCE_INCOMPLETE_LUA).digest("hex");

/** The slots a primary serves by its own line of CLUSTER NODES (`0-5460 5462`), not moving ones. */
function ownedSlots(myself: string | undefined): number[] {
  return (myself?.split(" ").slice(8) ?? []).flatMap((range) => {
    const match = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (match === null) return [];
    const from = Number(match[1]);
    const to = Number(match[2] ?? match[1]);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

async function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then((value) => ({ status: "fulfilled", value }),
    (reason: unknown) => ({ status: "rejected", reason }));
}

function isFenced(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith(FENCED_ERROR);
}

function only<T>(items: readonly T[]): T {
  assert(items.length === 1, "expected exactly one reply");
  return items[0] as T;
}

function fnv(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  return hash;
}
