import type { Ballot } from "./ballot.js";

/** A proposal `[n, v]` that an acceptor has accepted. */
export interface AcceptedProposal {
  readonly ballot: Ballot;
  readonly value: string;
}

/** A proposal a majority of acceptors accepted: its value is chosen. */
export interface ChosenProposal {
  readonly kind: "chosen";
  readonly value: string;
  readonly ballot: Ballot;
  /** The acceptors whose Accepted made the majority. */
  readonly acceptors: readonly string[];
}

/**
 * Names the one proposal a Prepare or Accept belongs to; every reply echoes it, so a proposer
 * counts only answers to itself. A ballot cannot do this alone: every fast round shares the fast
 * ballot, and a late reply to an earlier proposal of the same node and key carries the same one.
 * Absent only in messages from proposers older than the field (see docs/operations.md); a
 * proposer never counts a reply without its own ID.
 */
export interface ProposalTag {
  readonly proposalId?: string;
}

/** Phase 1a: the ID only, no value. */
export interface MsgPrepare extends ProposalTag {
  readonly type: "prepare";
  readonly key: string;
  readonly ballot: Ballot;
}

/** Phase 1b: "two promises and one answer"; `accepted` is the answer (or null: empty). */
export interface MsgPromise extends ProposalTag {
  readonly type: "promise";
  readonly key: string;
  readonly from: string;
  readonly ballot: Ballot;
  readonly accepted: AcceptedProposal | null;
}

/** Phase 2a. */
export interface MsgAccept extends ProposalTag {
  readonly type: "accept";
  readonly key: string;
  readonly ballot: Ballot;
  readonly value: string;
}

/** Phase 2b: durable before it is sent. */
export interface MsgAccepted extends ProposalTag {
  readonly type: "accepted";
  readonly key: string;
  readonly from: string;
  readonly ballot: Ballot;
}

/** A refusal of a Prepare or Accept; `promised` lets the proposer jump past it. */
export interface MsgNack extends ProposalTag {
  readonly type: "nack";
  readonly key: string;
  readonly from: string;
  readonly phase: "prepare" | "accept";
  readonly ballot: Ballot;
  readonly promised: Ballot;
}

/** A read of an acceptor's state without changing it (quorum reads, repair). */
export interface MsgRead {
  readonly type: "read";
  readonly key: string;
  /** Echoed in the reply, so a late reply to an older read is never counted in a newer one. */
  readonly readId: string;
}

export interface MsgReadReply {
  readonly type: "read-reply";
  readonly key: string;
  readonly readId: string;
  readonly from: string;
  readonly promised: Ballot | null;
  readonly accepted: AcceptedProposal | null;
}

export type ProposerToAcceptor = MsgPrepare | MsgAccept;
export type AcceptorToProposer = MsgPromise | MsgAccepted | MsgNack;
