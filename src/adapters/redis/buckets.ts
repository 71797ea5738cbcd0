/**
 * How a Redis Cluster store spreads one acceptor's keys: every Paxos key belongs to one of
 * BUCKET_COUNT fixed buckets, and every Redis key of a bucket carries the hash tag
 * `{<acceptor>:<bucket>}`, so a bucket (its keys' hashes, its incarnation marker, its write
 * counter, its unannounced set) lives in one slot and each Lua transition stays atomic on it.
 *
 * Fixed: the bucket of a key must never change (the layout is stored). 256 is enough to spread
 * over many primaries (a bucket is the unit a shard holds and a reshard moves) and few enough
 * that reading every bucket's marker and counter each second stays cheap.
 */
export const BUCKET_COUNT = 256;

const utf8 = new TextEncoder();

/** The bucket of a key: FNV-1a (32 bits) of its UTF-8 bytes, mod BUCKET_COUNT. Stable. */
export function bucketOf(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % BUCKET_COUNT;
}

/**
 * The Redis Cluster slot of a hash tag (CRC16-XMODEM mod 16384, as Redis computes it), so the
 * store can send each primary's calls of a batch together without asking the cluster.
 */
export function slotOfTag(tag: string): number {
  let crc = 0;
  for (const byte of utf8.encode(tag)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = (crc & 0x8000) !== 0 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}

const tagsByAcceptor = new Map<string, readonly string[]>();

/**
 * The hash tags of an acceptor's buckets: `<acceptor>:<bucket>`, or `<acceptor>:<bucket>.<n>`
 * with the smallest n that gives the bucket a slot of its own. Each bucket must be alone in
 * its slot: the cluster scripts prove a bucket complete by comparing its own count of hashes
 * with CLUSTER COUNTKEYSINSLOT. Stable for a given acceptor ID (the layout is stored).
 */
export function bucketTags(acceptorId: string): readonly string[] {
  const known = tagsByAcceptor.get(acceptorId);
  if (known !== undefined) return known;
  const taken = new Set<number>();
  const tags = Array.from({ length: BUCKET_COUNT }, (_, bucket) => {
    for (let n = 0; ; n++) {
      const tag = n === 0 ? `${acceptorId}:${bucket}` : `${acceptorId}:${bucket}.${n}`;
      const slot = slotOfTag(tag);
      if (!taken.has(slot)) {
        taken.add(slot);
        return tag;
      }
    }
  });
  tagsByAcceptor.set(acceptorId, tags);
  return tags;
}
