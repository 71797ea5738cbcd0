/**
 * The page's HTTP API as the server sends it and the page (src/ui/page/) reads it: the
 * bodies of `GET /api/cluster`, `POST /api/race` and the `ready` event of `/api/trace`.
 * Types only, so the page's bundle can import them (no Node, no NATS here).
 */
import type { Readiness } from "../protocol/readiness.js";
import type { AcceptorVoting } from "../protocol/status.js";

/** One node as the `$SRV.PING/INFO/STATS` answers of its service instance describe it. */
export interface NodeStatus {
  /** The service instance ID (one per node process). */
  readonly id: string;
  readonly node: string;
  readonly roles: readonly string[];
  readonly version: string;
  readonly started: string | null;
  readonly endpoints: readonly {
    readonly name: string;
    readonly subject: string;
    readonly requests: number;
    readonly errors: number;
    readonly averageMs: number;
  }[];
  /** The learner's replica size and stream lag (`$SRV.STATS` data); null without a learner. */
  readonly replicaSize: number | null;
  readonly lag: number | null;
}

/** What the page's cluster view shows (`GET /api/cluster`). */
export interface ClusterStatus {
  readonly at: string;
  readonly prefix: string;
  /** The node serving the page and its `/readyz`, or null for `paxoskv ui`. */
  readonly self: {
    readonly node: string;
    readonly roles: readonly string[];
    readonly readiness: Readiness | null;
  } | null;
  readonly nats: { readonly connected: boolean; readonly server: string };
  readonly nodes: readonly NodeStatus[];
  /**
   * The configured acceptor set; up = a node with that ID and the acceptor role answers;
   * voting = what its voting beat says (a fenced acceptor is up and does not vote).
   */
  readonly acceptors: readonly {
    readonly id: string; readonly up: boolean; readonly voting: AcceptorVoting;
  }[];
  /** Whether the Race button may create keys here. */
  readonly race: boolean;
  readonly quorum: number;
  readonly stream: {
    readonly name: string;
    readonly messages: number;
    readonly firstSeq: number;
    readonly lastSeq: number;
    readonly lastTs: string | null;
    readonly bytes: number;
  } | null;
  readonly errors: readonly string[];
}

export interface RaceClientResult {
  readonly client: string;
  readonly proposed: string;
  /** The key's value as the reply says, and whether this client's value is it. */
  readonly value?: string;
  readonly created?: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface RaceAttempt {
  readonly key: string;
  /** The nodes whose proposers took the two requests (from the trace's request events). */
  readonly proposers: readonly string[];
}

export interface RaceResult {
  readonly key: string;
  readonly results: readonly RaceClientResult[];
  readonly proposers: readonly string[];
  readonly attempts: readonly RaceAttempt[];
  /** The nodes that acknowledged tracing the race keys. */
  readonly tracedBy: readonly string[];
}

/** `POST /api/race`: the race, or why it did not run (403 off, 409 running, 500 failed). */
export type RaceReply = ({ readonly ok: true } & RaceResult) |
  { readonly ok: false; readonly error: string };

/** The first event of `GET /api/trace`: the pattern traced, and the nodes that said so. */
export interface TraceReady {
  readonly pattern: string;
  readonly nodes: readonly string[];
}
