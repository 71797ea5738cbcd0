import { onAccept, onPrepare } from "../../src/core/acceptor.js";
import { isFastBallot, maxBallot } from "../../src/core/ballot.js";
import { onReply, onTick, startProposal } from "../../src/core/proposer.js";
import { keysToRecover } from "../../src/core/rejoin.js";
import type { PlantedBug } from "./options.js";

/** The core functions the simulator drives; a planted bug swaps one of them. */
export interface SimCore {
  readonly onPrepare: typeof onPrepare;
  readonly onAccept: typeof onAccept;
  readonly startProposal: typeof startProposal;
  readonly onReply: typeof onReply;
  readonly onTick: typeof onTick;
  /** The keys a rejoin recovers (`src/core/rejoin.ts`, shared with the node). */
  readonly keysToRecover: typeof keysToRecover;
  /** The acceptor set proposer `index` is configured with (its quorum is a majority of it). */
  readonly acceptorsOf: (acceptors: readonly string[], index: number) => readonly string[];
}

export const REAL_CORE: SimCore = {
  onPrepare, onAccept, startProposal, onReply, onTick, keysToRecover,
  acceptorsOf: (acceptors) => acceptors,
};

/** The real core with one bug planted, to prove the checker can fail (gryadka's canaries). */
export function coreWith(bug: PlantedBug | null): SimCore {
  switch (bug) {
    case null:
    case "rejoin-without-recovery": // planted in the simulator's rejoin, not in the core
      return REAL_CORE;
    case "accept-below-promise":
      // Breaks promise 2: accepts every Accept, though it still never lowers its promise.
      return {
        ...REAL_CORE,
        onAccept: (state, msg, self) => {
          const step = onAccept({ ...state, promised: null }, msg, self);
          const promised = maxBallot(state.promised, msg.ballot);
          return { ...step, state: { ...step.state, promised } };
        },
      };
    case "ignore-accepted":
      // Breaks phase 2: the proposer never hears of accepted proposals, so proposes its own.
      return {
        ...REAL_CORE,
        onReply: (config, state, msg, now, random) =>
          onReply(config, state, msg.type === "promise" ? { ...msg, accepted: null } : msg, now,
            random),
      };
    case "ignore-fast-values":
      // Breaks the fast value rule: a classic round never hears of values taken at the fast
      // ballot, so it proposes its own although all acceptors may have taken another.
      return {
        ...REAL_CORE,
        onReply: (config, state, msg, now, random) =>
          onReply(config, state, msg.type === "promise" && msg.accepted !== null &&
            isFastBallot(msg.accepted.ballot) ? { ...msg, accepted: null } : msg, now, random),
      };
    case "rejoin-lists-one":
      // A rejoin recovers only the keys of the first acceptor it listed.
      return {
        ...REAL_CORE,
        keysToRecover: (count, listings) => keysToRecover(count, listings.slice(0, 1).concat(
          listings.slice(1).map(() => []))),
      };
    case "count-stale-replies":
      // Counts every reply for the key as an answer to the running proposal, as the proposer
      // did when replies carried no proposal ID.
      return {
        ...REAL_CORE,
        onReply: (config, state, msg, now, random) =>
          onReply(config, state, { ...msg, proposalId: state.id }, now, random),
      };
    case "quorum-of-one":
      // A wrong quorum: each proposer counts only one acceptor, so a "majority" is 1 of 3.
      return {
        ...REAL_CORE,
        acceptorsOf: (acceptors, index) => [acceptors[index % acceptors.length] as string],
      };
  }
}
