/**
 * The acceptor's two transitions as Redis Lua scripts, one per transition, each doing
 * read-compare-write-reply atomically (Redis runs a script alone; with `appendfsync always` its
 * writes reach the disk before the reply is sent). They mirror `src/core/acceptor.ts` exactly.
 *
 * Why TS constants and not `.lua` files: `tsc` copies no assets, so a file read relative to
 * `import.meta.url` works under tsx but is missing from `dist/` (and from an image built from
 * it) unless every build step learns to copy it. A constant cannot go missing.
 *
 * KEYS[1] is the acceptor's hash for one key; ARGV carries the ballot (round, nodeId) and, for
 * Accept, the value, then the Paxos key, which Accept adds to the sorted set KEYS[2] of keys
 * accepted but not yet seen announced (scored by Redis time in seconds). Hash fields are named in HASH_FIELDS. Replies are arrays of strings so no
 * number passes through Lua's doubles on the way back:
 *   prepare: {"promise", round, nodeId}                  nothing accepted
 *            {"promise", round, nodeId, aRound, aNodeId, value}
 *            {"nack", promisedRound, promisedNodeId}
 *   accept:  {"accepted", round, nodeId} | {"nack", promisedRound, promisedNodeId}
 */

/** The hash fields, in the order `read` asks for them. */
export const HASH_FIELDS = [
  "promised_round", "promised_node", "accepted_round", "accepted_node", "accepted_value",
] as const;

// Shared by both scripts (prepended, as each script runs on its own).
const BALLOT_LUA = `
-- Rounds are decimal integers below 2^53 so tonumber() is exact. Node IDs compare byte-wise:
-- Lua's \`<\` on strings uses strcoll and Redis sets the locale from the environment, which
-- could order IDs differently from JavaScript and break the total order of ballots.
local function valid_ballot(round, node)
  return string.match(round, "^%d+$") ~= nil and #round <= 16
    and string.match(node, "^[A-Za-z0-9_%-]+$") ~= nil and #node <= 32
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

/** Prepare(n) succeeds only if n > promised; it records n and answers with the accepted. */
export const PREPARE_LUA = `${BALLOT_LUA}
local round, node = ARGV[1], ARGV[2]
if not valid_ballot(round, node) then
  return redis.error_reply("ERR paxoskv prepare: invalid ballot")
end
local s = redis.call("HMGET", KEYS[1],
  "promised_round", "promised_node", "accepted_round", "accepted_node", "accepted_value")
if s[1] and compare_ballots(round, node, s[1], s[2]) <= 0 then
  return {"nack", s[1], s[2]}
end
redis.call("HSET", KEYS[1], "promised_round", round, "promised_node", node)
if s[3] then
  return {"promise", round, node, s[3], s[4], s[5]}
end
return {"promise", round, node}
`;

/** Accept(n, v) succeeds only if n >= promised; accepting also promises n. */
export const ACCEPT_LUA = `${BALLOT_LUA}
local round, node, value = ARGV[1], ARGV[2], ARGV[3]
if not valid_ballot(round, node) then
  return redis.error_reply("ERR paxoskv accept: invalid ballot")
end
local s = redis.call("HMGET", KEYS[1], "promised_round", "promised_node")
if s[1] and compare_ballots(round, node, s[1], s[2]) < 0 then
  return {"nack", s[1], s[2]}
end
redis.call("HSET", KEYS[1], "promised_round", round, "promised_node", node,
  "accepted_round", round, "accepted_node", node, "accepted_value", value)
-- Remember the key, and when, until the node has seen it announced (repair of lost
-- announcements skips keys accepted moments ago: their proposer is still at work).
redis.call("ZADD", KEYS[2], tonumber(redis.call("TIME")[1]), ARGV[4])
return {"accepted", round, node}
`;
