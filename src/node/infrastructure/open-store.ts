import type { AcceptorStore, Durability } from "../../adapters/ports.js";
import { checkDurability, RedisAcceptorStore } from "../../adapters/redis/index.js";
import { ErrorCode } from "../../protocol/codes.js";
import type { NodeConfig } from "./config.js";
import { formatDuration, Ongoing, REPEAT_LOG_INTERVAL_MS, type Logger } from "./logger.js";
import { retryWhileStarting } from "./start-retry.js";

/** How long a starting node waits for its Redis to answer (it may be starting or loading). */
const REDIS_WAIT_MS = 60_000;

/** Opens this node's acceptor Redis and checks that it keeps every write across a crash. */
export async function openRedisStore(config: NodeConfig, log: Logger): Promise<AcceptorStore> {
  const down = new Ongoing(log, REPEAT_LOG_INTERVAL_MS);
  const store = new RedisAcceptorStore({
    acceptorId: config.nodeId,
    url: config.redisUrl,
    prefix: config.prefix,
    commandTimeoutMs: config.phaseTimeoutMs,
    // ioredis retries on its own; one line every few seconds is enough while Redis is down.
    onConnectionError: (err) => down.failed({ err: err.message, code: ErrorCode.UNAVAILABLE },
      "acceptor Redis unreachable"),
    onReady: () => down.ended({}, "acceptor Redis reachable again"),
  });
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
