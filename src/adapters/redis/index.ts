export {
  RedisAcceptorReader, RedisAcceptorStore, RedisStoreError, reconnectDelayMs,
  type RedisAcceptorStoreOptions,
} from "./store.js";
export { checkDurability, NotDurableError, type DurabilityLog } from "./durability.js";
export {
  MIXED_PREFIX, RedisClusterAcceptorStore, type RedisClusterStoreOptions,
} from "./cluster-store.js";
export { BUCKET_COUNT, bucketOf, bucketTags } from "./buckets.js";
