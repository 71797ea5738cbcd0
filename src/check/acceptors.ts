/**
 * R8, the white-box invariants (`docs/reliability.md`, "The checker"), over
 * snapshots of the acceptors' Redis hashes (fields as `src/adapters/redis/scripts.ts` writes
 * them). Pure: the caller takes the snapshots.
 */
import { fastQuorumSize, quorumSize } from "../core/quorum.js";
import type { Anomaly } from "./history.js";

/** One acceptor's hash for one Paxos key (HGETALL). */
export type AcceptorHash = Readonly<Record<string, string>>;

/** Every key's hash on one acceptor at one moment. */
export interface AcceptorSnapshot {
  /** When it was taken (the recorder's monotonic clock); orders samples of one acceptor. */
  readonly at: number;
  readonly acceptor: string;
  /** Paxos key → hash. A partial sample (some keys only) is fine. */
  readonly keys: Readonly<Record<string, AcceptorHash>>;
  /** True when `keys` holds every key of the acceptor (needed to see a key vanish). */
  readonly complete?: boolean;
}

export interface AcceptorCheckOptions {
  /** The fixed acceptor set (a quorum is a strict majority of it). */
  readonly acceptors: readonly string[];
  /**
   * Each key's value per the final linearizable reads (null: absent). Compared with what a
   * majority of the last snapshots holds.
   */
  readonly finalValues?: ReadonlyMap<string, string | null>;
  /**
   * Deliberate amnesia (the nemesis wiped an acceptor's Redis at `at`, then it rejoined):
   * snapshots of that acceptor before and after are not compared with each other.
   */
  readonly wipes?: readonly { readonly acceptor: string; readonly at: number }[];
}

interface RawBallot {
  readonly round: string;
  readonly node: string;
}

/**
 * (a) per hash: promised and accepted ballots are whole or missing, the accepted value is
 * present iff the accepted ballot is, and promised >= accepted; (b) across samples of one
 * acceptor, promised and accepted ballots never decrease and a key never vanishes (except
 * across a deliberate wipe, `options.wipes`); (c) in the
 * last samples, a majority holds every final value, and whatever a majority accepted in one
 * classic ballot (a fast quorum at the fast ballot) is that key's final value.
 */
export function checkAcceptors(
  snapshots: readonly AcceptorSnapshot[], options: AcceptorCheckOptions,
): Anomaly[] {
  const anomalies: Anomaly[] = [];
  const report = (key: string, message: string) => {
    anomalies.push({ rule: "R8", key, message, ops: [] });
  };
  const sorted = [...snapshots].sort((a, b) => a.at - b.at);
  const previous = new Map<string, { promised: RawBallot | null; accepted: RawBallot | null }>();
  const lastComplete = new Map<string, AcceptorSnapshot>();
  const wipes = [...options.wipes ?? []].sort((a, b) => a.at - b.at);
  for (const snap of sorted) {
    while (wipes.length > 0 && (wipes[0]?.at ?? Infinity) < snap.at) {
      const wiped = (wipes.shift() as { acceptor: string }).acceptor;
      lastComplete.delete(wiped);
      for (const id of previous.keys()) if (id.startsWith(`${wiped}\u0000`)) previous.delete(id);
    }
    for (const [key, hash] of Object.entries(snap.keys)) {
      const state = parseHash(hash);
      if (typeof state === "string") {
        report(key, `acceptor ${snap.acceptor}: ${state} (${JSON.stringify(hash)})`);
        continue;
      }
      const id = `${snap.acceptor}\u0000${key}`;
      const before = previous.get(id);
      if (before !== undefined) {
        if (compareRaw(state.promised, before.promised) < 0) {
          report(key, `acceptor ${snap.acceptor}: promise went back from ` +
            `${fmt(before.promised)} to ${fmt(state.promised)} at ${snap.at}`);
        }
        if (compareRaw(state.accepted, before.accepted) < 0) {
          report(key, `acceptor ${snap.acceptor}: accepted ballot went back from ` +
            `${fmt(before.accepted)} to ${fmt(state.accepted)} at ${snap.at}`);
        }
      }
      previous.set(id, { promised: state.promised, accepted: state.accepted });
    }
    if (snap.complete === true) {
      const last = lastComplete.get(snap.acceptor);
      if (last !== undefined) {
        for (const key of Object.keys(last.keys)) {
          if (!(key in snap.keys)) {
            report(key, `acceptor ${snap.acceptor}: the key vanished between ${last.at} ` +
              `and ${snap.at} (amnesia)`);
          }
        }
      }
      lastComplete.set(snap.acceptor, snap);
    }
  }

  const quorum = quorumSize(options.acceptors.length);
  const fastQuorum = fastQuorumSize(options.acceptors.length);
  const finals = options.acceptors.map((id) => lastComplete.get(id))
    .filter((s): s is AcceptorSnapshot => s !== undefined);
  if (finals.length < options.acceptors.length) return anomalies;
  const keys = new Set(finals.flatMap((s) => Object.keys(s.keys)));
  for (const key of keys) {
    const votes = new Map<string, { id: string; fast: boolean; value: string; count: number }>();
    for (const snap of finals) {
      const hash = snap.keys[key];
      const state = hash === undefined ? null : parseHash(hash);
      if (state === null || typeof state === "string" || state.accepted === null) continue;
      const id = `${state.accepted.round}.${state.accepted.node}`;
      // The fast ballot (round 0) is every proposer's: its values are counted apart.
      const fast = state.accepted.round === "0";
      const voteId = fast ? `${id}=${state.value ?? ""}` : id;
      const vote = votes.get(voteId) ?? { id, fast, value: state.value ?? "", count: 0 };
      if (vote.value !== state.value) {
        report(key, `ballot ${id} holds two values: ${vote.value} and ${String(state.value)}`);
      }
      vote.count++;
      votes.set(voteId, vote);
    }
    const final = options.finalValues?.get(key);
    for (const { id, fast, value, count } of votes.values()) {
      if (count < (fast ? fastQuorum : quorum) || options.finalValues === undefined) continue;
      if (final !== value) {
        report(key, `${fast ? "a fast quorum" : "a majority"} accepted ${JSON.stringify(value)} ` +
          `in ballot ${id}, ` +
          `but the final read answered ${final === undefined || final === null ? "absent" :
            JSON.stringify(final)}`);
      }
    }
  }
  for (const [key, value] of options.finalValues ?? []) {
    if (value === null) continue;
    const holders = finals.filter((s) => s.keys[key]?.["accepted_value"] === value).length;
    if (holders < quorum) {
      report(key, `only ${holders} of ${options.acceptors.length} acceptors hold the final ` +
        `value ${JSON.stringify(value)}`);
    }
  }
  return anomalies;
}

interface HashState {
  readonly promised: RawBallot | null;
  readonly accepted: RawBallot | null;
  readonly value: string | null;
}

/** The hash's ballots, or why it is malformed. */
function parseHash(hash: AcceptorHash): HashState | string {
  const promised = rawBallot(hash["promised_round"], hash["promised_node"]);
  const accepted = rawBallot(hash["accepted_round"], hash["accepted_node"]);
  if (promised === "partial") return "promised ballot has only one of its two fields";
  if (accepted === "partial") return "accepted ballot has only one of its two fields";
  if (promised === "malformed" || accepted === "malformed") return "malformed ballot";
  const value = hash["accepted_value"] ?? null;
  if ((accepted === null) !== (value === null)) {
    return "accepted value present without its ballot, or the other way round";
  }
  if (accepted !== null && promised === null) return "accepted without a promise";
  if (compareRaw(promised, accepted) < 0) {
    return `promised ${fmt(promised)} is below accepted ${fmt(accepted)}`;
  }
  return { promised, accepted, value };
}

function rawBallot(
  round: string | undefined, node: string | undefined,
): RawBallot | null | "partial" | "malformed" {
  if (round === undefined && node === undefined) return null;
  if (round === undefined || node === undefined) return "partial";
  if (!/^\d{1,20}$/.test(round) || !/^[A-Za-z0-9_-]{1,32}$/.test(node)) return "malformed";
  return { round: round.replace(/^0+(?=\d)/, ""), node };
}

/** Ballot order: the round as a decimal integer of any size, then the node ID byte-wise. */
export function compareRaw(a: RawBallot | null, b: RawBallot | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  if (a.round.length !== b.round.length) return a.round.length < b.round.length ? -1 : 1;
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  return a.node < b.node ? -1 : a.node > b.node ? 1 : 0;
}

function fmt(b: RawBallot | null): string {
  return b === null ? "none" : `${b.round}.${b.node}`;
}
