import { z } from "zod";
import { NODE_ID_PATTERN } from "../core/ballot.js";

/**
 * What the cluster says of itself: each acceptor's voting beat, and each node's answer to
 * `paxoskv status`. Internal subjects (under `paxos.>`), node credentials.
 */
export const STATUS_VERSION = 1;

const NodeIdSchema = z.string().regex(NODE_ID_PATTERN);

/** An acceptor's process, every VOTING_BEAT_MS: it votes, or why it does not. */
export const VotingBeatSchema = z.object({
  v: z.literal(STATUS_VERSION),
  acceptor: NodeIdSchema,
  voting: z.boolean(),
  reason: z.string().max(2000).optional(),
}).strict();
export type VotingBeat = z.infer<typeof VotingBeatSchema>;

/** What a node knows of an acceptor: its last beat, or `unknown` when none came lately. */
export type AcceptorVoting = "voting" | "not-voting" | "unknown";

export const NodeStatusSchema = z.object({
  v: z.literal(STATUS_VERSION),
  node: NodeIdSchema,
  roles: z.array(z.string()),
  version: z.string(),
  uptimeS: z.number(),
  /** Serving readiness (`/readyz`): this node answers clients. */
  ready: z.boolean(),
  checks: z.record(z.string(), z.union([z.boolean(), z.number(), z.string()])),
  /** This node's own acceptor, when it has the role. */
  acceptor: z.object({
    id: NodeIdSchema, voting: z.boolean(), reason: z.string().optional(),
  }).strict().optional(),
  /** What this node hears of every configured acceptor. */
  acceptors: z.record(z.string(), z.enum(["voting", "not-voting", "unknown"])),
}).strict();
export type NodeStatus = z.infer<typeof NodeStatusSchema>;
