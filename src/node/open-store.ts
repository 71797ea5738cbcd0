import type { AcceptorStore } from "../adapters/ports.js";
import { checkDurability, RedisAcceptorStore } from "../adapters/redis/index.js";
import type { NodeConfig } from "./config.js";
import type { Logger } from "./logger.js";

const ERROR_LOG_INTERVAL_MS = 5000;

/** Opens this node's acceptor Redis and checks that it keeps every write across a crash. */
export async function openRedisStore(config: NodeConfig, log: Logger): Promise<AcceptorStore> {
  let lastErrorLogAt = 0;
  const store = new RedisAcceptorStore({
    acceptorId: config.nodeId,
    url: config.redisUrl,
    prefix: config.prefix,
    commandTimeoutMs: config.phaseTimeoutMs,
    onConnectionError: (err) => {
      // ioredis retries on its own; one line every few seconds is enough while Redis is down.
      const now = Date.now();
      if (now - lastErrorLogAt < ERROR_LOG_INTERVAL_MS) return;
      lastErrorLogAt = now;
      log.warn({ err: err.message, code: "UNAVAILABLE" }, "acceptor Redis unreachable");
    },
  });
  try {
    await checkDurability(store, { requireDurable: config.requireDurable, log });
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
