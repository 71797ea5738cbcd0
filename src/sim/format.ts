import { formatBallot } from "../core/ballot.js";
import type { AcceptedProposal, AcceptorToProposer, ProposerToAcceptor } from "../core/messages.js";

/** `[1000.P1, 3]`, or `[]` for the empty answer. */
export function formatAccepted(accepted: AcceptedProposal | null): string {
  return accepted === null ? "[]" : `[${formatBallot(accepted.ballot)}, ${accepted.value}]`;
}

/** One protocol message as a trace reads it: `Promise X n=1000.P1 accepted=[]`. */
export function formatMsg(msg: ProposerToAcceptor | AcceptorToProposer): string {
  const n = `n=${formatBallot(msg.ballot)}`;
  switch (msg.type) {
    case "prepare":
      return `Prepare ${msg.key} ${n}`;
    case "promise":
      return `Promise ${msg.key} ${n} accepted=${formatAccepted(msg.accepted)}`;
    case "accept":
      return `Accept ${msg.key} ${n} v=${msg.value}`;
    case "accepted":
      return `Accepted ${msg.key} ${n}`;
    case "nack":
      return `Reject(${msg.phase}) ${msg.key} ${n} promised=${formatBallot(msg.promised)}`;
  }
}
