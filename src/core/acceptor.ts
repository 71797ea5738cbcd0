import { compareBallots, FAST_BALLOT, isFastBallot, type Ballot } from "./ballot.js";
import type {
  AcceptedProposal, MsgAccept, MsgAccepted, MsgNack, MsgPrepare, MsgPromise, ProposalTag,
} from "./messages.js";

/** What an acceptor must keep durably for one key. */
export interface AcceptorState {
  readonly promised: Ballot | null;
  readonly accepted: AcceptedProposal | null;
}

export const EMPTY_ACCEPTOR_STATE: AcceptorState = { promised: null, accepted: null };

export interface AcceptorStep<R> {
  readonly state: AcceptorState;
  /** False when the state is unchanged and nothing needs persisting. */
  readonly changed: boolean;
  readonly reply: R;
}

/**
 * Prepare(n) succeeds only if n > promised. Then two promises (no Prepare <= n, no Accept < n,
 * both kept by recording n as promised) and one answer (the accepted proposal, or empty).
 * The fast ballot is never prepared: it is shared by every proposer.
 */
export function onPrepare(
  state: AcceptorState, msg: MsgPrepare, self: string,
): AcceptorStep<MsgPromise | MsgNack> {
  if (isFastBallot(msg.ballot)) {
    const promised = state.promised ?? FAST_BALLOT;
    return { state, changed: false, reply: nack(msg, "prepare", promised, self) };
  }
  if (state.promised !== null && compareBallots(msg.ballot, state.promised) <= 0) {
    return { state, changed: false, reply: nack(msg, "prepare", state.promised, self) };
  }
  const next: AcceptorState = { promised: msg.ballot, accepted: state.accepted };
  const reply: MsgPromise = {
    type: "promise", key: msg.key, from: self, ballot: msg.ballot, accepted: state.accepted,
    ...echoProposal(msg),
  };
  return { state: next, changed: true, reply };
}

/**
 * Accept(n, v) succeeds only if n >= promised; accepting also promises n. At the fast ballot,
 * which many proposers share, only the first value counts: it is taken while nothing is
 * promised, and a repeat of that same value is answered again without a write.
 */
export function onAccept(
  state: AcceptorState, msg: MsgAccept, self: string,
): AcceptorStep<MsgAccepted | MsgNack> {
  if (isFastBallot(msg.ballot) && state.promised !== null) {
    const repeat = state.accepted !== null && isFastBallot(state.accepted.ballot) &&
      isFastBallot(state.promised) && state.accepted.value === msg.value;
    const reply = repeat ? accepted(msg, self) : nack(msg, "accept", state.promised, self);
    return { state, changed: false, reply };
  }
  if (state.promised !== null && compareBallots(msg.ballot, state.promised) < 0) {
    return { state, changed: false, reply: nack(msg, "accept", state.promised, self) };
  }
  const next: AcceptorState = {
    promised: msg.ballot,
    accepted: { ballot: msg.ballot, value: msg.value },
  };
  return { state: next, changed: true, reply: accepted(msg, self) };
}

function accepted(msg: MsgAccept, self: string): MsgAccepted {
  return { type: "accepted", key: msg.key, from: self, ballot: msg.ballot, ...echoProposal(msg) };
}

/** A reply names the proposal its request named (nothing, for a proposer without the field). */
export function echoProposal(msg: ProposalTag): ProposalTag {
  return msg.proposalId === undefined ? {} : { proposalId: msg.proposalId };
}

function nack(
  msg: MsgPrepare | MsgAccept, phase: MsgNack["phase"], promised: Ballot, self: string,
): MsgNack {
  return {
    type: "nack", key: msg.key, from: self, phase, ballot: msg.ballot, promised,
    ...echoProposal(msg),
  };
}
