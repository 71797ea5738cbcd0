import type { Msg } from "@nats-io/transport-node";
import { AssertionFailure } from "../../core/assert.js";
import type { Ballot } from "../../core/ballot.js";
import type { ProposalOutcome } from "../../core/proposer.js";
import { decodeUtf8 } from "../../adapters/nats/connection.js";
import { ErrorCode, PaxosKvError } from "../../protocol/codes.js";
import type { CreateReply } from "../../protocol/replies.js";
import { sourceOf } from "./admission.js";
import { keyOf } from "./endpoint.js";
import type { Metrics } from "../infrastructure/metrics.js";
import type { ProposerDriver } from "./proposer-driver.js";
import type { Tracer } from "../infrastructure/trace.js";

/** Room for the key, ballot and field names around a value in one wire item. */
const WIRE_ITEM_OVERHEAD_BYTES = 1024;

/** A client request after validation at the edge. */
export interface CreateRequest {
  readonly key: string;
  readonly value: string;
}

/**
 * Reads `prefix.create.<key>` with the value as a plain UTF-8 body (as `nats req` sends it).
 * Throws PaxosKvError with INVALID_KEY, VALUE_TOO_LARGE or BAD_REQUEST.
 */
export function parseCreate(
  prefix: string, valueBytesMax: number, msg: Msg, wireBytesMax: number,
): CreateRequest {
  const key = keyOf(prefix, "create", msg.subject);
  if (msg.data.length > valueBytesMax) {
    throw new PaxosKvError(ErrorCode.VALUE_TOO_LARGE,
      `the value is ${msg.data.length} bytes; the maximum is ${valueBytesMax}`);
  }
  const value = decodeUtf8(msg.data);
  if (value === null) throw new PaxosKvError(ErrorCode.BAD_REQUEST, "the value is not valid UTF-8");
  // Accepts and promises carry the value as JSON; escaping (\u0001 is six bytes) can grow it
  // past what one NATS message holds, and then no Accept could ever arrive. No byte grows to
  // more than six, so most values need no look at their escaped form.
  if (msg.data.length * 6 + 2 <= wireBytesMax - WIRE_ITEM_OVERHEAD_BYTES) return { key, value };
  const escapedBytes = Buffer.byteLength(JSON.stringify(value));
  if (escapedBytes > wireBytesMax - WIRE_ITEM_OVERHEAD_BYTES) {
    throw new PaxosKvError(ErrorCode.VALUE_TOO_LARGE,
      `the value takes ${escapedBytes} bytes as JSON (escaped), over the ` +
      `${wireBytesMax - WIRE_ITEM_OVERHEAD_BYTES} bytes a Paxos message can carry`);
  }
  return { key, value };
}

/** The reply for a key already known to be chosen. */
export function knownReply(request: CreateRequest, chosenValue: string): CreateReply {
  return {
    ok: true, key: request.key, value: chosenValue, created: chosenValue === request.value,
  };
}

/** The contract's reply for a finished proposal, or the error it stands for. */
export function createReply(request: CreateRequest, outcome: ProposalOutcome): CreateReply {
  switch (outcome.kind) {
    case "chosen":
      return knownReply(request, outcome.value);
    case "unavailable":
      throw new PaxosKvError(ErrorCode.UNAVAILABLE,
        `no majority of acceptors promised within the deadline (${outcome.rounds} rounds); ` +
        "the create did not take effect");
    case "timeout":
      throw new PaxosKvError(ErrorCode.TIMEOUT,
        `an Accept was sent but no majority answered (${outcome.rounds} rounds); ` +
        "the outcome is unknown: retry the same create to resolve it");
    case "empty":
      // Only a recovery ends so, and the driver never hands its outcome to a create.
      throw new AssertionFailure(`create of ${request.key} ended as a recovery`);
  }
}

/** What serving a create needs from the node. */
export interface CreateDeps {
  readonly prefix: string;
  readonly valueBytesMax: number;
  readonly wireBytesMax: number;
  /** The key's chosen value when this node has learned it. */
  readonly known: (key: string) => string | undefined;
  readonly propose: ProposerDriver["propose"];
  /** Waits for the proposer's turn of the request's source; UNAVAILABLE when refused. */
  readonly admit: (source: string) => Promise<() => void>;
  readonly announce: (learned: { key: string; value: string; ballot: Ballot;
    acceptors: readonly string[] }) => void;
  readonly metrics: Metrics;
  readonly tracer: Tracer;
}

/** `prefix.create.<key>`: validate, answer from what is known, else run Basic Paxos. */
export async function handleCreate(msg: Msg, deps: CreateDeps): Promise<CreateReply> {
  let request: CreateRequest;
  try {
    request = parseCreate(deps.prefix, deps.valueBytesMax, msg, deps.wireBytesMax);
  } catch (err) {
    deps.metrics.creates.inc({ outcome: "rejected" });
    throw err;
  }
  // A chosen value never changes: a key this node has learned needs no Paxos round.
  const known = deps.known(request.key);
  if (known !== undefined) {
    deps.metrics.creates.inc({ outcome: known === request.value ? "created" : "exists" });
    return knownReply(request, known);
  }
  let release: () => void;
  try {
    release = await deps.admit(sourceOf(msg.reply));
  } catch (err) {
    deps.metrics.creates.inc({ outcome: "unavailable" });
    throw err;
  }
  const client = clientLabel(msg.reply);
  let traceId = "";
  let outcome: ProposalOutcome;
  try {
    outcome = await deps.propose(request.key, request.value, (p) => {
      traceId = p.traceId;
      deps.tracer.client(traceId, request.key, "request", client, { value: request.value });
    }, true);
  } finally {
    release();
  }
  if (outcome.kind === "chosen") deps.announce({ key: request.key, ...outcome });
  const created = outcome.kind === "chosen" && outcome.value === request.value;
  deps.metrics.creates.inc({
    outcome: outcome.kind === "chosen" ? (created ? "created" : "exists") : outcome.kind,
  });
  deps.tracer.client(traceId, request.key, "reply", client, outcome.kind === "chosen"
    ? { value: outcome.value, created } : { outcome: outcome.kind });
  return createReply(request, outcome);
}

/** A short name for the client that sent a request: its connection's inbox prefix. */
function clientLabel(reply: string | undefined): string {
  const token = reply?.split(".")[1];
  return token === undefined ? "client" : `client-${token.slice(-4)}`;
}
