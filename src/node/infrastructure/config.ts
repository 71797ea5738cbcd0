import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import type { NatsTlsFiles } from "../../adapters/nats/connection.js";
import { isValidNodeId } from "../../core/ballot.js";
import { ALL_KEYS, DEFAULT_PREFIX, validateKeyFilter } from "../../protocol/subjects.js";
import { OperatorCode } from "../../protocol/codes.js";
import { FAST_PAUSE_MS, FAST_RECENT_MS } from "../roles/proposer-driver.js";

export const ROLES = ["proposer", "acceptor", "learner"] as const;
export type Role = (typeof ROLES)[number];

const csv = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x.length > 0);
const bool = z.enum(["true", "false", "1", "0", "yes", "no"])
  .transform((s) => s === "true" || s === "1" || s === "yes");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A PEM file this process can read now: a typo fails at start, not at the first reconnect. */
const pemFile = z.string().min(1).superRefine((path, ctx) => {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error && "code" in error ? String(error.code) : String(error);
    ctx.addIssue({ code: "custom", message: `cannot read ${path} (${reason})` });
    return;
  }
  if (!text.includes("-----BEGIN ")) {
    ctx.addIssue({ code: "custom", message: `${path} is not a PEM file` });
  }
});
/** Unset or empty (a compose file's `${VAR:-}`): no file. */
const optionalPemFile = z.preprocess((v) => (v === "" ? undefined : v), pemFile.optional());
const nodeId = z.string().refine(isValidNodeId, "must be 1-32 characters of A-Z a-z 0-9 _ -");
const REDIS_URL = /^rediss?:\/\//;
/** `A=redis://host:6379,B=...`: each acceptor ID with its Redis. Unset or empty: none. */
const acceptorRedis = z.preprocess((v) => (v === "" ? undefined : v), z.string()
  .transform((text, ctx) => {
    const urls = new Map<string, string>();
    const refuse = (message: string) => ctx.addIssue({ code: "custom", message });
    for (const entry of csv(text)) {
      const eq = entry.indexOf("=");
      const [id, url] = [entry.slice(0, eq), entry.slice(eq + 1)];
      if (eq < 0) refuse(`"${entry}" is not ID=redis://host:port`);
      else if (!isValidNodeId(id)) refuse(`"${id}" is not an acceptor ID`);
      else if (!REDIS_URL.test(url)) refuse(`the URL of ${id} must start with redis:// or rediss://`);
      else if (!URL.canParse(url)) refuse(`the URL of ${id} is not a valid URL`);
      else if (urls.has(id)) refuse(`${id} is named twice`);
      else urls.set(id, url);
    }
    return urls;
  }).optional());

/** The environment, validated once at start (DESIGN.md "Configuration"). */
const EnvSchema = z.object({
  PAXOSKV_NODE_ID: nodeId.default("A"),
  PAXOSKV_ROLES: z.string().default("proposer,acceptor,learner").transform(csv)
    .pipe(z.array(z.enum(ROLES)).min(1, "name at least one role")),
  PAXOSKV_ACCEPTORS: z.string().default("A,B,C").transform(csv)
    .pipe(z.array(nodeId).min(1, "name at least one acceptor")
      .refine((ids) => new Set(ids).size === ids.length, "acceptor IDs must be distinct")),
  PAXOSKV_NATS_URL: z.string().default("nats://127.0.0.1:4222").transform(csv)
    .pipe(z.array(z.string().regex(/^(nats|tls|wss?):\/\/|^[^:/]+(:\d+)?$/, "not a NATS URL"))
      .min(1)),
  PAXOSKV_NATS_USER: z.string().optional(),
  PAXOSKV_NATS_PASSWORD: z.string().optional(),
  PAXOSKV_NATS_TLS_CA: optionalPemFile,
  PAXOSKV_NATS_TLS_CERT: optionalPemFile,
  PAXOSKV_NATS_TLS_KEY: optionalPemFile,
  // One URL: one Redis, or a Redis Cluster (found at start: cluster_enabled:1). Several,
  // comma-separated: seed nodes of a Redis Cluster.
  PAXOSKV_REDIS_URL: z.string().default("redis://127.0.0.1:6379").transform(csv)
    .pipe(z.array(z.string().regex(REDIS_URL, "must start with redis:// or rediss://")
      .refine((url) => URL.canParse(url), "not a valid URL")).min(1, "name a Redis")),
  PAXOSKV_ACCEPTOR_REDIS: acceptorRedis,
  PAXOSKV_REQUIRE_DURABLE: bool.default(false),
  PAXOSKV_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be subject tokens")
    .default(DEFAULT_PREFIX),
  PAXOSKV_MAX_VALUE_BYTES: int(1, 512 * 1024).default(64 * 1024),
  PAXOSKV_REQUEST_TIMEOUT_MS: int(100, 600_000).default(4000),
  PAXOSKV_PHASE_TIMEOUT_MS: int(10, 60_000).optional(),
  PAXOSKV_BACKOFF_BASE_MS: int(1, 60_000).default(5),
  PAXOSKV_BACKOFF_MAX_MS: int(1, 600_000).optional(),
  PAXOSKV_ROUNDS_MAX: int(1, 1_000_000).default(1000),
  PAXOSKV_REPLY_MARGIN_MS: int(0, 60_000).default(100),
  PAXOSKV_FAST_RECENT_MS: int(1, 60_000).default(FAST_RECENT_MS),
  PAXOSKV_FAST_PAUSE_MS: int(0, 600_000).default(FAST_PAUSE_MS),
  PAXOSKV_CREATE_QUEUE_WAIT_MS: int(1, 600_000).optional(),
  PAXOSKV_GET_QUEUE_WAIT_MS: int(1, 600_000).optional(),
  PAXOSKV_MAX_IN_FLIGHT: int(1, 100_000).default(128),
  PAXOSKV_HTTP_PORT: int(0, 65535).optional(),
  PAXOSKV_STREAM_REPLICAS: int(1, 5).default(1),
  PAXOSKV_REBUILD_ON_START: bool.default(false),
  PAXOSKV_REBUILD_INTERVAL_S: int(0, 86_400).default(900),
  PAXOSKV_REBUILD_KEYS_PER_S: int(1, 10_000_000).default(1000),
  PAXOSKV_PAGE_RACE: bool.default(false),
  PAXOSKV_ACCEPTOR_LEASE_MS: int(1000, 600_000).default(10_000),
  PAXOSKV_DATA_DIR: z.string().min(1, "must name a directory")
    .refine((p) => !p.includes("\0"), "must not contain a NUL byte").optional(),
  PAXOSKV_REPLICA_KEYS: z.string().default(ALL_KEYS).superRefine((filter, ctx) => {
    const why = validateKeyFilter(filter);
    if (why !== null) {
      ctx.addIssue({ code: "custom", message: `not a subject filter over keys: ${why}` });
    }
  }),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info"),
});

export interface NodeConfig {
  readonly nodeId: string;
  readonly roles: readonly Role[];
  readonly acceptors: readonly string[];
  readonly natsServers: readonly string[];
  readonly natsUser: string | undefined;
  readonly natsPassword: string | undefined;
  /** TLS to NATS (any PAXOSKV_NATS_TLS_* set): required then, never plaintext. */
  readonly natsTls: NatsTlsFiles | undefined;
  /** The acceptor's Redis: one URL, or seed nodes of a Redis Cluster (several). */
  readonly redisUrls: readonly string[];
  /** Every acceptor's Redis URL, when quorum reads go to them directly instead of over NATS. */
  readonly acceptorRedis: ReadonlyMap<string, string> | undefined;
  readonly requireDurable: boolean;
  readonly prefix: string;
  readonly valueBytesMax: number;
  /** How long a create may run before it answers UNAVAILABLE or TIMEOUT. */
  readonly requestTimeoutMs: number;
  /** How long one phase waits for a majority before retrying with a higher ballot. */
  readonly phaseTimeoutMs: number;
  /** A refused proposal backs off a random time in [1, min(max, base * 2^round)] ms. */
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Ballots one proposal tries at most before it gives up (the deadline usually comes first). */
  readonly roundsMax: number;
  /**
   * How long a proposal may run: the request timeout less PAXOSKV_REPLY_MARGIN_MS, so its
   * reply reaches a client that waits the request timeout (at least PROPOSAL_DEADLINE_MIN_MS).
   */
  readonly proposalDeadlineMs: number;
  /**
   * A create tries a fast round only while every acceptor answered this node within this
   * long and none has left a message unanswered for as long.
   */
  readonly fastRecentMs: number;
  /** After a fast round timed out, creates start classic for this long. */
  readonly fastPauseMs: number;
  /** A create waiting for its turn (FairAdmission) longer than this is refused UNAVAILABLE. */
  readonly createQueueWaitMs: number;
  /** A get miss waiting for its turn to read the acceptors longer than this is refused. */
  readonly getQueueWaitMs: number;
  /** Creates this node's proposer runs at once; more wait their turn (FairAdmission). */
  readonly maxInFlight: number;
  readonly httpPort: number | undefined;
  /** JetStream replicas of the chosen stream (3 in a 3-server NATS cluster). */
  readonly streamReplicas: number;
  /** A learner rebuilds its replica from the acceptors at start (anti-entropy). */
  readonly rebuildOnStart: boolean;
  /**
   * A learner rebuilds its replica from the acceptors this often (0: never): anti-entropy for
   * what the stream lost or never carried.
   */
  readonly rebuildIntervalMs: number;
  /**
   * How many keys a second the periodic rebuild lists at most: its cost per second stays flat
   * as keys grow (a pass lists a majority of acceptors: with three and N keys, about 2N / this
   * many seconds).
   */
  readonly rebuildKeysPerSecond: number;
  /** The web page's Race button may create keys (POST /api/race): a demo, off unless asked. */
  readonly pageRace: boolean;
  /**
   * An acceptor answers Paxos messages only while it confirmed its registration within this
   * long (its own monotonic clock); a rejoin moves the registration, then waits this plus a
   * phase timeout, so a paused old process cannot vote after the rejoin lists the others.
   * The same on every node.
   */
  readonly acceptorLeaseMs: number;
  /** Where a learner keeps its replica (absolute): PAXOSKV_DATA_DIR, default ./data/<node-id>. */
  readonly dataDir: string;
  /** The keys a learner follows, stores and serves: a subject filter (`orders.>`; `>` all). */
  readonly replicaKeys: string;
  readonly logLevel: string;
}

/** The shortest a proposal may run, whatever the request timeout and reply margin. */
export const PROPOSAL_DEADLINE_MIN_MS = 50;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = OperatorCode.BAD_CONFIG;
}

function configErrorOf(error: z.ZodError): ConfigError {
  const lines = error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
  return new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}

/** Parses the environment; throws one ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): NodeConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) throw configErrorOf(parsed.error);
  const e = parsed.data;
  const natsTls = natsTlsOf(e);
  if (e.PAXOSKV_ROLES.includes("acceptor") && !e.PAXOSKV_ACCEPTORS.includes(e.PAXOSKV_NODE_ID)) {
    throw new ConfigError(`invalid configuration:\n  PAXOSKV_NODE_ID: ${e.PAXOSKV_NODE_ID} runs ` +
      `the acceptor role but is not in PAXOSKV_ACCEPTORS (${e.PAXOSKV_ACCEPTORS.join(",")})`);
  }
  checkAcceptorRedis(e.PAXOSKV_ACCEPTOR_REDIS, e.PAXOSKV_ACCEPTORS);
  const phaseTimeoutMs = e.PAXOSKV_PHASE_TIMEOUT_MS ??
    Math.max(10, Math.min(1000, Math.floor(e.PAXOSKV_REQUEST_TIMEOUT_MS / 4)));
  return {
    nodeId: e.PAXOSKV_NODE_ID,
    roles: [...new Set(e.PAXOSKV_ROLES)],
    acceptors: e.PAXOSKV_ACCEPTORS,
    natsServers: e.PAXOSKV_NATS_URL,
    natsUser: e.PAXOSKV_NATS_USER,
    natsPassword: e.PAXOSKV_NATS_PASSWORD,
    natsTls,
    redisUrls: e.PAXOSKV_REDIS_URL,
    acceptorRedis: e.PAXOSKV_ACCEPTOR_REDIS,
    requireDurable: e.PAXOSKV_REQUIRE_DURABLE,
    prefix: e.PAXOSKV_PREFIX,
    valueBytesMax: e.PAXOSKV_MAX_VALUE_BYTES,
    requestTimeoutMs: e.PAXOSKV_REQUEST_TIMEOUT_MS,
    phaseTimeoutMs,
    backoffBaseMs: e.PAXOSKV_BACKOFF_BASE_MS,
    backoffMaxMs: e.PAXOSKV_BACKOFF_MAX_MS ?? Math.max(10, Math.floor(phaseTimeoutMs / 2)),
    roundsMax: e.PAXOSKV_ROUNDS_MAX,
    proposalDeadlineMs: Math.max(PROPOSAL_DEADLINE_MIN_MS,
      e.PAXOSKV_REQUEST_TIMEOUT_MS - e.PAXOSKV_REPLY_MARGIN_MS),
    fastRecentMs: e.PAXOSKV_FAST_RECENT_MS,
    fastPauseMs: e.PAXOSKV_FAST_PAUSE_MS,
    // A create's own deadline starts once it is admitted: waiting at most an eighth of it keeps
    // the answer within 4.5 s at the defaults, before the `nats` CLI's 5 s. A get's quorum read
    // waits at most the phase timeout (a quarter), so a get may wait half.
    createQueueWaitMs: e.PAXOSKV_CREATE_QUEUE_WAIT_MS ?? e.PAXOSKV_REQUEST_TIMEOUT_MS / 8,
    getQueueWaitMs: e.PAXOSKV_GET_QUEUE_WAIT_MS ?? e.PAXOSKV_REQUEST_TIMEOUT_MS / 2,
    maxInFlight: e.PAXOSKV_MAX_IN_FLIGHT,
    httpPort: e.PAXOSKV_HTTP_PORT,
    streamReplicas: e.PAXOSKV_STREAM_REPLICAS,
    rebuildOnStart: e.PAXOSKV_REBUILD_ON_START,
    rebuildIntervalMs: e.PAXOSKV_REBUILD_INTERVAL_S * 1000,
    rebuildKeysPerSecond: e.PAXOSKV_REBUILD_KEYS_PER_S,
    pageRace: e.PAXOSKV_PAGE_RACE,
    acceptorLeaseMs: e.PAXOSKV_ACCEPTOR_LEASE_MS,
    dataDir: resolve(e.PAXOSKV_DATA_DIR ?? `data/${e.PAXOSKV_NODE_ID}`),
    replicaKeys: e.PAXOSKV_REPLICA_KEYS,
    logLevel: e.LOG_LEVEL,
  };
}

/** A direct read needs every acceptor's Redis: one left out would never answer. */
function checkAcceptorRedis(
  urls: ReadonlyMap<string, string> | undefined, acceptors: readonly string[],
): void {
  if (urls === undefined) return;
  const missing = acceptors.filter((id) => !urls.has(id));
  const unknown = [...urls.keys()].filter((id) => !acceptors.includes(id));
  const lines = [
    ...(missing.length > 0 ? [`no URL for acceptor ${missing.join(", ")}`] : []),
    ...(unknown.length > 0 ? [`${unknown.join(", ")} not in PAXOSKV_ACCEPTORS`] : []),
  ];
  if (lines.length === 0) return;
  throw new ConfigError(`invalid configuration:\n  PAXOSKV_ACCEPTOR_REDIS: ${lines.join("; ")} ` +
    `(it names each acceptor of PAXOSKV_ACCEPTORS, ${acceptors.join(",")}, once)`);
}

const TlsEnvSchema = EnvSchema.pick({
  PAXOSKV_NATS_TLS_CA: true, PAXOSKV_NATS_TLS_CERT: true, PAXOSKV_NATS_TLS_KEY: true,
});
type TlsEnv = z.infer<typeof TlsEnvSchema>;

function natsTlsOf(e: TlsEnv): NatsTlsFiles | undefined {
  const ca = e.PAXOSKV_NATS_TLS_CA;
  const cert = e.PAXOSKV_NATS_TLS_CERT;
  const key = e.PAXOSKV_NATS_TLS_KEY;
  if ((cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert === undefined ? ["KEY", "CERT"] : ["CERT", "KEY"];
    throw new ConfigError(`invalid configuration:\n  PAXOSKV_NATS_TLS_${missing}: required ` +
      `with PAXOSKV_NATS_TLS_${given} (a client certificate needs its key)`);
  }
  if (ca === undefined && cert === undefined) return undefined;
  return {
    ...(ca !== undefined ? { caFile: ca } : {}),
    ...(cert !== undefined ? { certFile: cert } : {}),
    ...(key !== undefined ? { keyFile: key } : {}),
  };
}

/**
 * The NATS TLS files of the environment, validated as `loadConfig` does, for the client
 * commands (`paxoskv create`, `get`, `ui`, ...) that need nothing else of the node's config.
 */
export function loadNatsTls(env: Record<string, string | undefined>): NatsTlsFiles | undefined {
  const parsed = TlsEnvSchema.safeParse(env);
  if (!parsed.success) throw configErrorOf(parsed.error);
  return natsTlsOf(parsed.data);
}
