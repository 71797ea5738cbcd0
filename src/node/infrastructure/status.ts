import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { decodeJson } from "../../adapters/nats/connection.js";
import {
  STATUS_VERSION, VotingBeatSchema, type AcceptorVoting, type NodeStatus, type VotingBeat,
} from "../../protocol/status.js";
import { paxosStatusSubject, paxosVotingSubject } from "../../protocol/subjects.js";

/** How often an acceptor's process says whether it votes (at once when that changes). */
export const VOTING_BEAT_MS = 2_000;
/** How often the beat looks for a change of state. */
const BEAT_CHECK_MS = 250;
/** With no beat for this long, an acceptor's state is unknown (its process is down or cut off). */
const BEAT_STALE_MS = 3 * VOTING_BEAT_MS;

/**
 * Sends this node's acceptor's voting state on its beat subject every VOTING_BEAT_MS, so every
 * node (and `paxoskv status`) sees a fenced acceptor, not only the acceptor itself. One small
 * message per acceptor process every two seconds, whatever the number of keys.
 */
export function startVotingBeat(
  nc: NatsConnection, prefix: string, acceptorId: string,
  state: () => { voting: boolean; reason?: string },
): () => void {
  let last: boolean | null = null;
  let sentAt = -Infinity;
  const beat = () => {
    if (nc.isClosed() || nc.isDraining()) return;
    const { voting, reason } = state();
    const now = performance.now();
    if (voting === last && now - sentAt < VOTING_BEAT_MS) return;
    last = voting;
    sentAt = now;
    const body: VotingBeat = {
      v: STATUS_VERSION, acceptor: acceptorId, voting, ...(reason === undefined ? {} : { reason }),
    };
    nc.publish(paxosVotingSubject(prefix, acceptorId), JSON.stringify(body));
  };
  beat();
  const timer = setInterval(beat, BEAT_CHECK_MS);
  return () => clearInterval(timer);
}

/** What this node hears of every configured acceptor's voting beats. */
export class AcceptorVotingView {
  readonly #last = new Map<string, { voting: boolean; reason?: string; at: number }>();
  #sub: Subscription | null = null;

  constructor(
    private readonly acceptors: readonly string[],
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(nc: NatsConnection, prefix: string): void {
    this.#sub = nc.subscribe(paxosVotingSubject(prefix, "*"), {
      callback: (_err, msg) => {
        const parsed = VotingBeatSchema.safeParse(decodeJson(msg.data));
        if (parsed.success) this.heard(parsed.data);
      },
    });
  }

  /** A beat arrived (only configured acceptors are kept: a forged ID must not grow the map). */
  heard(beat: VotingBeat): void {
    if (!this.acceptors.includes(beat.acceptor)) return;
    this.#last.set(beat.acceptor, {
      voting: beat.voting, ...(beat.reason === undefined ? {} : { reason: beat.reason }),
      at: this.now(),
    });
  }

  stateOf(acceptor: string): AcceptorVoting {
    const last = this.#last.get(acceptor);
    if (last === undefined || this.now() - last.at > BEAT_STALE_MS) return "unknown";
    return last.voting ? "voting" : "not-voting";
  }

  /** Every configured acceptor's state, in configuration order. */
  all(): Record<string, AcceptorVoting> {
    return Object.fromEntries(this.acceptors.map((a) => [a, this.stateOf(a)]));
  }

  stop(): void {
    this.#sub?.unsubscribe();
    this.#sub = null;
  }
}

/** Answers `paxoskv status` requests: every node replies with its own status. */
export function serveStatus(
  nc: NatsConnection, prefix: string, status: () => Promise<NodeStatus>,
): () => void {
  const sub = nc.subscribe(paxosStatusSubject(prefix), {
    callback: (_err, msg) => {
      if (msg.reply === undefined) return;
      void status().then((s) => msg.respond(JSON.stringify(s)), () => undefined);
    },
  });
  return () => sub.unsubscribe();
}
