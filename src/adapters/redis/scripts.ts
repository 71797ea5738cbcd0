/**
 * The acceptor's two transitions as Redis Lua scripts, one per transition, each doing
 * read-compare-write-reply atomically (Redis runs a script alone; with `appendfsync always` its
 * writes reach the disk before the reply is sent). They mirror `src/core/acceptor.ts` exactly.
 *
 * Why TS constants and not `.lua` files: `tsc` copies no assets, so a file read relative to
 * `import.meta.url` works under tsx but is missing from `dist/` (and from an image built from
 * it) unless every build step learns to copy it. A constant cannot go missing.
 *
 * Each script takes a batch of keys (one call, one fsync for all: group commit) and answers one
 * reply per key, computed exactly as for a batch of one, in the order of the batch. That order is
 * what binds a reply to its request: the store adapter echoes request i's proposal ID in reply
 * i, so the scripts never see proposal IDs and store none. Hash fields are named in HASH_FIELDS.
 *
 * Fencing: the last KEYS entry of every script is the store's incarnation marker and the last
 * ARGV the incarnation the node serves as (the one registered for its acceptor ID). A script
 * that finds another one, or none (the Redis lost its data and came back empty), changes
 * nothing and fails with FENCED_ERROR: an acceptor that forgot its promises must not vote.
 *
 * Write counter: the KEYS entry before the marker in Prepare and Accept is the store's write
 * counter, INCRed once by every call that changed a hash, in the same script (so durable with
 * the write). The node records its high-water mark in the registry; a store found below it was
 * rolled back (a restored backup, a promoted replica) and is fenced. Stores written by scripts
 * from before the counter simply have none (0).
 * Replies are arrays of strings so no number passes through Lua's doubles on the way back:
 *   prepare: {"promise", round, nodeId}                  nothing accepted
 *            {"promise", round, nodeId, aRound, aNodeId, value}
 *            {"nack", promisedRound, promisedNodeId}
 *   accept:  {"accepted", round, nodeId} | {"nack", promisedRound, promisedNodeId}
 */

/** The hash fields, in the order `read` asks for them. */
export const HASH_FIELDS = [
  "promised_round", "promised_node", "accepted_round", "accepted_node", "accepted_value",
] as const;

/** The prefix of the error a script raises when its store is not the one the node serves as. */
export const FENCED_ERROR = "PAXOSKV_FENCED";

/**
 * The Redis Cluster variant of the transitions and the read (`cluster: true`) also proves its
 * bucket complete before it treats a key as new: a reshard moves a slot's keys one by one, so a
 * primary wiped in the middle of one (and back under the same node ID) can leave a bucket's
 * marker beside only part of its hashes, and a missing hash would look like a key never voted
 * on. So the scripts keep the number of the bucket's hashes (the extra last KEYS entry, popped
 * first so the rest of the layout is the single Redis one) and, when an item's hash is absent,
 * compare it with what the slot holds (CLUSTER COUNTKEYSINSLOT; the bucket is alone in its
 * slot, see buckets.ts). Redis runs a script with an absent key only while the slot is not
 * moving, so the count it compares is the whole bucket. A count that differs deletes the
 * marker (the bucket is lost: it refuses until healed) and fails with FENCED_ERROR.
 * The single Redis variant is the text it always was (same SHA).
 */
const CLUSTER_LUA = `local KEYCOUNT = table.remove(KEYS)
local function bucket_intact()
  local marker = KEYS[#KEYS]
  local tag = string.sub(marker, 1, #marker - #"~incarnation")
  -- Written with the marker, so a marker without it means the count was lost (with keys).
  local counted = redis.call("GET", KEYCOUNT)
  if not counted then return false end
  local held = redis.call("CLUSTER", "COUNTKEYSINSLOT", redis.call("CLUSTER", "KEYSLOT", marker))
  local expected = tonumber(counted) + redis.call("EXISTS", marker, KEYCOUNT, tag .. "~writes",
    tag .. "~unannounced", tag .. "~healing")
  return held == expected
end
local function require_intact(first, last)
  for i = first, last do
    if redis.call("EXISTS", KEYS[i]) == 0 then
      if bucket_intact() then return nil end
      redis.call("DEL", KEYS[#KEYS])
      return redis.error_reply("${FENCED_ERROR} this bucket's slot holds another number of " ..
        "keys than the bucket counted (keys lost, e.g. a primary wiped during a reshard; or " ..
        "keys that are not this acceptor's: one cluster per acceptor): it refuses until " ..
        "acceptor rejoin heals it")
    end
  end
  return nil
end`;

/** A script's text for one store kind: the cluster variant with CLUSTER_LUA first. */
function variant(cluster: boolean, body: string): string {
  return cluster ? `${CLUSTER_LUA}${body}` : body;
}

/** What only the cluster variant does at a point of a script ("" in the single Redis one). */
function onlyInCluster(cluster: boolean, lua: string): string {
  return cluster ? lua : "";
}

// Shared by all scripts (prepended, as each script runs on its own).
const SHARED_LUA = `
if redis.call("GET", KEYS[#KEYS]) ~= ARGV[#ARGV] then
  return redis.error_reply("${FENCED_ERROR} this Redis does not hold the registered state " ..
    "of its acceptor (it was wiped, replaced or rolled back)")
end

-- Rounds are decimal integers below 2^53 so tonumber() is exact. Node IDs compare byte-wise:
-- Lua's \`<\` on strings uses strcoll and Redis sets the locale from the environment, which
-- could order IDs differently from JavaScript and break the total order of ballots.
-- Round 0 is the fast ballot, shared by every proposer, whose node ID is always "fast".
local function valid_ballot(round, node)
  return string.match(round, "^%d+$") ~= nil and #round <= 16
    and string.match(node, "^[A-Za-z0-9_%-]+$") ~= nil and #node <= 32
    and (tonumber(round) ~= 0 or node == "fast")
end

local function compare_bytes(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  if #a == #b then return 0 end
  return #a < #b and -1 or 1
end

local function compare_ballots(round_a, node_a, round_b, node_b)
  local x, y = tonumber(round_a), tonumber(round_b)
  if x ~= y then return x < y and -1 or 1 end
  return compare_bytes(node_a, node_b)
end
`;

/**
 * Prepare(n) succeeds only if n > promised (and n is not the fast ballot); it records n and
 * answers with the accepted.
 * One call handles a batch: item i is KEYS[i] with ballot ARGV[2i-1], ARGV[2i]; then the write
 * counter and the marker. Every ballot is checked before the first write, since Redis cannot
 * roll a script back.
 */
export const prepareLua = (cluster: boolean): string => variant(cluster, `${SHARED_LUA}
local n = #KEYS - 2
local wrote = false
if n < 1 or #ARGV ~= 2 * n + 1 then return redis.error_reply("ERR paxoskv prepare: wrong arity") end
for i = 1, n do
  if not valid_ballot(ARGV[2 * i - 1], ARGV[2 * i]) then
    return redis.error_reply("ERR paxoskv prepare: invalid ballot")
  end
end${onlyInCluster(cluster, `
local refused = require_intact(1, n)
if refused then return refused end
local created = 0`)}
local replies = {}
for i = 1, n do
  local round, node = ARGV[2 * i - 1], ARGV[2 * i]
  local s = redis.call("HMGET", KEYS[i],
    "promised_round", "promised_node", "accepted_round", "accepted_node", "accepted_value")
  if tonumber(round) == 0 then
    replies[i] = {"nack", s[1] or "0", s[2] or "fast"}
  elseif s[1] and compare_ballots(round, node, s[1], s[2]) <= 0 then
    replies[i] = {"nack", s[1], s[2]}
  else${onlyInCluster(cluster, `
    if not s[1] then created = created + 1 end`)}
    redis.call("HSET", KEYS[i], "promised_round", round, "promised_node", node)
    wrote = true
    if s[3] then
      replies[i] = {"promise", round, node, s[3], s[4], s[5]}
    else
      replies[i] = {"promise", round, node}
    end
  end
end
if wrote then redis.call("INCR", KEYS[n + 1]) end${onlyInCluster(cluster, `
if created > 0 then redis.call("INCRBY", KEYCOUNT, created) end`)}
return replies
`);
export const PREPARE_LUA = prepareLua(false);

/**
 * Accept(n, v) succeeds only if n >= promised; accepting also promises n. At the fast ballot
 * only while nothing is promised, or again for the same fast value (answered, not rewritten).
 * A batch: item i is
 * KEYS[i] with ARGV[4i-3..4i] = round, nodeId, value, Paxos key; after the hashes come the
 * sorted set of keys accepted but not yet seen announced, the write counter and the marker.
 */
export const acceptLua = (cluster: boolean): string => variant(cluster, `${SHARED_LUA}
local n = #KEYS - 3
local wrote = false
if n < 1 or #ARGV ~= 4 * n + 1 then return redis.error_reply("ERR paxoskv accept: wrong arity") end
for i = 1, n do
  if not valid_ballot(ARGV[4 * i - 3], ARGV[4 * i - 2]) then
    return redis.error_reply("ERR paxoskv accept: invalid ballot")
  end
end${onlyInCluster(cluster, `
local refused = require_intact(1, n)
if refused then return refused end
local created = 0`)}
local now = tonumber(redis.call("TIME")[1])
local replies = {}
for i = 1, n do
  local round, node, value = ARGV[4 * i - 3], ARGV[4 * i - 2], ARGV[4 * i - 1]
  local s = redis.call("HMGET", KEYS[i], "promised_round", "promised_node", "accepted_round",
    "accepted_value")
  local fast = tonumber(round) == 0
  if fast and s[1] and tonumber(s[1]) == 0 and s[3] and tonumber(s[3]) == 0
    and s[4] == value then
    replies[i] = {"accepted", round, node}
  elseif s[1] and (fast or compare_ballots(round, node, s[1], s[2]) < 0) then
    replies[i] = {"nack", s[1], s[2]}
  else${onlyInCluster(cluster, `
    if not s[1] then created = created + 1 end`)}
    redis.call("HSET", KEYS[i], "promised_round", round, "promised_node", node,
      "accepted_round", round, "accepted_node", node, "accepted_value", value)
    -- Remember the key, and when, until the node has seen it announced (the repair of lost
    -- announcements skips keys accepted moments ago: their proposer is still at work).
    redis.call("ZADD", KEYS[n + 1], now, ARGV[4 * i])
    wrote = true
    replies[i] = {"accepted", round, node}
  end
end
if wrote then redis.call("INCR", KEYS[n + 2]) end${onlyInCluster(cluster, `
if created > 0 then redis.call("INCRBY", KEYCOUNT, created) end`)}
return replies
`);
export const ACCEPT_LUA = acceptLua(false);

/**
 * Reads one key's hash (KEYS[1]) without changing it: fenced like the transitions, and also
 * by the write mark registered for the acceptor (ARGV[1]): a store whose counter (KEYS[2]) is
 * below it was rolled back, and a direct quorum read must not count it even before its own
 * node has started and retired it. KEYS[3] is the marker, ARGV[2] the incarnation.
 */
export const readLua = (cluster: boolean): string => variant(cluster, `${SHARED_LUA}
if #KEYS ~= 3 or #ARGV ~= 2 or not string.match(ARGV[1], "^%d+$") then
  return redis.error_reply("ERR paxoskv read: wrong arity")
end
if tonumber(redis.call("GET", KEYS[2]) or "0") < tonumber(ARGV[1]) then
  return redis.error_reply("${FENCED_ERROR} this Redis is older than the writes recorded for " ..
    "its acceptor (it was rolled back)")
end${onlyInCluster(cluster, `
local refused = require_intact(1, 1)
if refused then return refused end`)}
return redis.call("HMGET", KEYS[1], ${HASH_FIELDS.map((f) => `"${f}"`).join(", ")})
`);
export const READ_LUA = readLua(false);

/**
 * Replaces the marker KEYS[1] by ARGV[2] only while it is ARGV[1]: a node that found its store
 * rolled back retires the incarnation in the store itself, so every script (its own, another
 * process's, a direct reader's) refuses it from then on. Answers 1 if it replaced it.
 */
export const RETIRE_LUA = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[2])
return 1
`;

/**
 * Marks one bucket of a Redis Cluster store, installing recovered key states first (a heal, a
 * whole restore, or none: a new store). Only while the bucket has no marker (KEYS[#KEYS]):
 * once any process marked it, the bucket votes, and writing an older recovered state over what
 * it promised since would be unsafe. A bucket's states may take several calls; the first
 * ("begin") leaves a nonce in `~healing`, and each later one requires it, so a primary wiped
 * between two calls (the states written so far lost with the nonce) fails the heal (-1)
 * instead of marking a bucket without them.
 * KEYS: the hashes, then the unannounced set, the write counter and the marker, then the
 * bucket's hash count (see CLUSTER_LUA) and `~healing`. ARGV: per key its Paxos key and field
 * count then the fields (none: an empty state); then the time (unannounced score), the nonce,
 * "begin" or "continue", and last the incarnation to mark the bucket with and the write mark
 * its counter must not fall below ("" and 0: write the states only, mark nothing). Marking
 * counts the bucket's hashes afresh; the marker is absent then, so Redis runs the script only
 * while the slot is not moving and the count is the whole bucket.
 * A per-bucket heal reserves the bucket first ("claim": the nonce only if none is there, for
 * HEAL_CLAIM_MS at most) and then sends "continue" calls only, so that a second heal of the
 * bucket refuses (-2) before it raises the bucket's registered mark again.
 * Answers 1 if it wrote, 0 if the bucket was marked already, -1 if the heal was cut short (or
 * another took the bucket over), -2 if another heal holds it.
 */
/**
 * How long a heal's reservation of a bucket lasts unless renewed (the store renews it every
 * quarter of that while the heal runs): a heal that died frees its buckets then.
 */
export const HEAL_CLAIM_MS = 3_600_000;

export const RESTORE_BUCKET_LUA = `
local HEALING = table.remove(KEYS)
local KEYCOUNT = table.remove(KEYS)
local marker = KEYS[#KEYS]
if redis.call("EXISTS", marker) == 1 then return 0 end
local time, nonce, step = ARGV[#ARGV - 4], ARGV[#ARGV - 3], ARGV[#ARGV - 2]
if step == "claim" then
  if not redis.call("SET", HEALING, nonce, "NX", "PX", ${HEAL_CLAIM_MS}) then return -2 end
elseif step == "begin" then
  redis.call("SET", HEALING, nonce, "PX", ${HEAL_CLAIM_MS})
elseif redis.call("GET", HEALING) ~= nonce then
  return -1
end
local n = #KEYS - 3
local a = 1
for i = 1, n do
  local key, count = ARGV[a], tonumber(ARGV[a + 1])
  a = a + 2
  redis.call("DEL", KEYS[i])
  if count > 0 then
    redis.call("HSET", KEYS[i], unpack(ARGV, a, a + count - 1))
    for f = a, a + count - 1, 2 do
      if ARGV[f] == "accepted_value" then redis.call("ZADD", KEYS[n + 1], time, key) end
    end
  end
  a = a + count
end
if ARGV[#ARGV - 1] ~= "" then
  local writes = tonumber(redis.call("GET", KEYS[n + 2]) or "0")
  if writes < tonumber(ARGV[#ARGV]) then redis.call("SET", KEYS[n + 2], ARGV[#ARGV]) end
  redis.call("DEL", HEALING)
  local held = redis.call("CLUSTER", "COUNTKEYSINSLOT", redis.call("CLUSTER", "KEYSLOT", marker))
  local bookkeeping = redis.call("EXISTS", KEYCOUNT, KEYS[n + 1], KEYS[n + 2])
  redis.call("SET", KEYCOUNT, held - bookkeeping)
  redis.call("SET", marker, ARGV[#ARGV - 1])
end
return 1
`;

/** Extends a heal's reservation (KEYS[1]) by ARGV[2] ms if it is still that heal's (ARGV[1]). */
export const RENEW_HEAL_LUA = `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
`;

/** Frees a heal's reservation (KEYS[1], `~healing`) if it is still that heal's (ARGV[1]). */
export const RELEASE_HEAL_LUA = `
if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end
return 1
`;

/**
 * The node's tick over a quiet bucket of a Redis Cluster store (one no script has touched since
 * it lost keys): deletes its marker when the slot holds another number of keys than the bucket
 * counted (CLUSTER_LUA). KEYS: a key that never exists (so Redis runs this only while the slot
 * is not moving), the marker, the bucket's hash count. Answers 1 if it fenced the bucket.
 */
export const FENCE_INCOMPLETE_LUA = `${CLUSTER_LUA}
if redis.call("EXISTS", KEYS[#KEYS]) == 0 or bucket_intact() then return 0 end
redis.call("DEL", KEYS[#KEYS])
return 1
`;
