/**
 * Found while writing the threat model (test/integration/authz.test.ts): one forged but
 * well-formed Prepare with round 2^53 - 1 made every proposer that later touched the key
 * crash on an assertion (no safe ballot above it), stopping the node. The proposer now gives
 * up on such a key like on any other refusal: UNAVAILABLE, or TIMEOUT once an Accept left.
 */
import { expect, it } from "vitest";
import { ballot } from "../../src/core/ballot.js";
import type { AcceptorToProposer } from "../../src/core/messages.js";
import { onReply, onTick, startProposal, type ProposerConfig } from "../../src/core/proposer.js";
import { seededRandom } from "../../src/core/random.js";

const config: ProposerConfig = {
  nodeId: "P1", acceptors: ["A", "B", "C"], phaseTimeoutTicks: 10, backoffBaseTicks: 2,
  backoffMaxTicks: 16, deadlineTicks: 100, roundCountMax: 5,
};
const top = ballot(Number.MAX_SAFE_INTEGER, "zz");

it("proposer: a nack naming round 2^53 - 1 ends the proposal as unavailable, no assertion", () => {
  const random = seededRandom(1);
  let state = startProposal(config, "X", "v", 0, { id: "p1" }).state;
  for (const from of ["A", "B"]) {
    const nack: AcceptorToProposer = { type: "nack", key: "X", from, phase: "prepare",
      ballot: state.ballot, promised: top, proposalId: "p1" };
    state = onReply(config, state, nack, 1, random).state;
  }
  expect(state.outcome).toEqual({ kind: "unavailable", rounds: 1 });
});

it("proposer: a late nack naming round 2^53 - 1 during back-off ends the proposal at the tick", () => {
  const random = seededRandom(1);
  const start = startProposal(config, "X", "v", 0, { id: "p1" }).state;
  let state = start;
  for (const from of ["A", "B"]) {
    const nack: AcceptorToProposer = { type: "nack", key: "X", from, phase: "prepare",
      ballot: start.ballot, promised: ballot(5, "Q"), proposalId: "p1" };
    state = onReply(config, state, nack, 1, random).state;
  }
  expect(state.phase).toBe("backoff");
  const late: AcceptorToProposer = { type: "nack", key: "X", from: "C", phase: "prepare",
    ballot: start.ballot, promised: top, proposalId: "p1" };
  state = onReply(config, state, late, 2, random).state;
  const step = onTick(config, state, state.wakeAt, random);
  expect(step.state.outcome?.kind).toBe("unavailable");
  expect(step.outbox).toEqual([]);
});
