export {
  RedisAcceptorReader, RedisAcceptorStore, RedisStoreError, reconnectDelayMs,
  type RedisAcceptorStoreOptions,
} from "./store.js";
export { checkDurability, NotDurableError, type DurabilityLog } from "./durability.js";
