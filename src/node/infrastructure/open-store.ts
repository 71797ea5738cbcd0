import type { AcceptorStore, Durability } from "../../adapters/ports.js";
import { Redis, ReplyError } from "ioredis";
import {
  checkDurability, RedisAcceptorStore, RedisClusterAcceptorStore,
} from "../../adapters/redis/index.js";
import { ErrorCode } from "../../protocol/codes.js";
import { ConfigError, type NodeConfig } from "./config.js";
import { formatDuration, Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "./logger.js";
import { retryWhileStarting } from "./start-retry.js";

/** How long a starting node waits for its Redis to answer (it may be starting or loading). */
const REDIS_WAIT_MS = 60_000;

/** Opens this node's acceptor Redis (or Redis Cluster) and checks that it keeps every write. */
export async function openRedisStore(config: NodeConfig, log: Logger): Promise<AcceptorStore> {
  const down = new Ongoing(log, REPEAT_LOG_INTERVAL_MS);
  const common = {
    acceptorId: config.nodeId,
    prefix: config.prefix,
    commandTimeoutMs: config.phaseTimeoutMs,
    // ioredis retries on its own; one line every few seconds is enough while Redis is down.
    onConnectionError: (err: Error) => down.failed(
      { err: err.message, code: ErrorCode.UNAVAILABLE }, "acceptor Redis unreachable"),
    onReady: () => down.ended({}, "acceptor Redis reachable again"),
  };
  const cluster = await isRedisCluster(config.redisUrls, log);
  const store: AcceptorStore = cluster
    ? new RedisClusterAcceptorStore({ ...common, seeds: config.redisUrls })
    : new RedisAcceptorStore({ ...common, url: config.redisUrls[0] ?? "" });
  if (cluster) log.info({ seeds: config.redisUrls.length }, "the acceptor's Redis is a cluster");
  try {
    // The settings as read while waiting: a Redis that answered once and then crashed again
    // (it happens under chaos) is not a reason to stop. Not read by then: checked (and
    // reported) once more.
    const read = await waitForRedis(store, log);
    await checkDurability({
      acceptorId: store.acceptorId,
      durability: () => read === null ? store.durability() : Promise.resolve(read),
    }, { requireDurable: config.requireDurable, log });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * Whether PAXOSKV_REDIS_URL names a Redis Cluster: asks the first seed that answers (`INFO
 * cluster`). Several seeds must be a cluster (BAD_CONFIG otherwise). One URL that never answers
 * within the start wait is taken as one Redis, as before clusters: a cluster's node used that
 * way refuses every script (its keys are elsewhere), so the node votes with nothing it lacks.
 */
async function isRedisCluster(urls: readonly string[], log: Logger): Promise<boolean> {
  const probe = async (): Promise<boolean> => {
    const errors: unknown[] = [];
    for (const url of urls) {
      const redis = new Redis(url, {
        lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null,
      });
      redis.on("error", () => undefined);
      try {
        await redis.connect();
        return /cluster_enabled:1/.test(await redis.info("cluster"));
      } catch (err) {
        // It answered, but not INFO (an ACL without +info): not a cluster store's user.
        if (err instanceof ReplyError) return false;
        errors.push(err);
      } finally {
        redis.disconnect();
      }
    }
    throw errors[0];
  };
  const cluster = await retryWhileStarting({
    waitMs: REDIS_WAIT_MS, maxPauseMs: 1000,
    onWait: (err) => log.warn({ err, code: ErrorCode.UNAVAILABLE },
      "waiting for the acceptor Redis"),
  }, probe).catch(() => urls.length > 1);
  if (urls.length > 1 && !cluster) {
    throw new ConfigError("invalid configuration:\n  PAXOSKV_REDIS_URL: names several Redis " +
      "(seed nodes of a Redis Cluster), but they are not a cluster (cluster_enabled:0); name " +
      "one URL for a single Redis");
  }
  return cluster;
}

/**
 * Waits until the store answers, and returns its persistence settings (null if it never
 * answered): a Redis that is still starting or loading its AOF is not a reason to refuse to
 * start; a Redis that answers and is not durable is (checkDurability).
 */
async function waitForRedis(store: AcceptorStore, log: Logger): Promise<Durability | null> {
  return retryWhileStarting({
    waitMs: REDIS_WAIT_MS, maxPauseMs: 1000,
    onWait: (err) => log.warn({ err, code: ErrorCode.UNAVAILABLE }, "waiting for the acceptor Redis"),
    onReady: (waitedMs) => log.info({ waitedMs },
      `the acceptor Redis answered after ${formatDuration(waitedMs)}`),
  }, () => store.durability()).catch(() => null); // checkDurability reports it
}
