/**
 * The write-once checker: rules R1–R7 of `docs/reliability.md`, "The checker" over
 * a recorded history. Pure: no I/O, no clock. Keys are independent, and the sequential spec
 * of one key has a single transition (absent → v*), so a history is linearizable exactly when
 * some instant t* fits between every absent linearizable read and every observation of v*,
 * inside the interval of the create that carried v*. That makes the check linear per key.
 */
import { observedValue, type Anomaly, type Op } from "./history.js";

export interface CheckOptions {
  /**
   * R6: in each of these phases (Op.phase) every acknowledged create must be read back by a
   * linearizable read of its key that returns its value, e.g. ["final", "restart"].
   */
  readonly durabilityPhases?: readonly string[];
  /**
   * When each durability phase began (its first read of any key): R6 covers the creates
   * acknowledged before it. Computed from the history when not given.
   */
  readonly phaseStarts?: ReadonlyMap<string, number>;
  /**
   * R7 (iv): from this time on replicas have converged: a replica read invoked at or after it
   * may not answer absent for a key whose value was observed before the read was invoked.
   */
  readonly convergedAt?: number;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly anomalies: readonly Anomaly[];
  /** Every key of the history: its value v*, or null when no operation observed one. */
  readonly values: ReadonlyMap<string, string | null>;
}

export function checkHistory(history: readonly Op[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, Op[]>();
  const ids = new Set<number>();
  const anomalies: Anomaly[] = [];
  for (const op of history) {
    if (ids.has(op.id)) throw new Error(`history has two operations with id ${op.id}`);
    ids.add(op.id);
    const ops = byKey.get(op.key) ?? [];
    ops.push(op);
    byKey.set(op.key, ops);
  }
  const phaseStarts = new Map(options.phaseStarts ?? []);
  for (const phase of options.durabilityPhases ?? []) {
    if (phaseStarts.has(phase)) continue;
    const reads = history.filter((op) => op.kind === "lread" && op.phase === phase);
    phaseStarts.set(phase, reads.reduce((min, op) => Math.min(min, op.ti), Infinity));
  }
  const values = new Map<string, string | null>();
  for (const [key, ops] of byKey) {
    const verdict = checkKey(key, ops, { ...options, phaseStarts });
    values.set(key, verdict.value);
    anomalies.push(...verdict.anomalies);
  }
  return { ok: anomalies.length === 0, anomalies, values };
}

interface KeyVerdict {
  readonly value: string | null;
  readonly anomalies: Anomaly[];
}

function checkKey(key: string, ops: readonly Op[], options: CheckOptions): KeyVerdict {
  const anomalies: Anomaly[] = [];
  const report = (rule: Anomaly["rule"], message: string, culprits: readonly Op[]) => {
    anomalies.push({ rule, key, message, ops: culprits.map((op) => op.id) });
  };
  const observations = ops.filter((op) => op.tc !== null && observedValue(op) !== null);
  const created = ops.filter((op) => op.kind === "create" && op.outcome.type === "created");

  // R2 (part): "created" means the key's value is the one this create proposed.
  for (const op of created) {
    if (op.outcome.type === "created" && op.outcome.value !== op.value) {
      report("R2", `create #${op.id} reports created:true with ${show(op.outcome.value)}, ` +
        `but it proposed ${show(op.value)}`, [op]);
    }
  }

  // R1 Agreement: every observation of the key saw the same value.
  const seen = new Map<string, Op>();
  for (const op of observations) {
    const value = observedValue(op) as string;
    if (!seen.has(value)) seen.set(value, op);
  }
  if (seen.size > 1) {
    const list = [...seen].map(([value, op]) => `${show(value)} (${describe(op)})`);
    report("R1", `${seen.size} different values observed: ${list.join(", ")}`, [...seen.values()]);
    return { value: null, anomalies };
  }

  // R2 Single winner.
  if (created.length > 1) {
    report("R2", `${created.length} creates answered created:true: ` +
      created.map(describe).join(", "), created);
  }

  const [entry] = seen;
  if (entry === undefined) return { value: null, anomalies };
  const [vstar] = entry;

  // R3 Origin: exactly one create carried v*, and it did not report a definite failure.
  const carriers = ops.filter((op) => op.kind === "create" && op.value === vstar);
  const origin = carriers[0];
  if (origin === undefined) {
    report("R3", `value ${show(vstar)} appeared from nowhere: no create proposed it`,
      [entry[1]]);
    return { value: vstar, anomalies };
  }
  if (carriers.length > 1) {
    report("R3", `value ${show(vstar)} was proposed by ${carriers.length} creates ` +
      "(the workload must use unique values)", carriers);
  }
  if (origin.outcome.type === "fail") {
    report("R3", `${describe(origin)} reported a definite failure` +
      `${origin.outcome.code === undefined ? "" : ` (${origin.outcome.code})`}, ` +
      "but its value was chosen", [origin]);
  } else if (origin.outcome.type === "exists") {
    report("R3", `${describe(origin)} answered that its own value already existed`, [origin]);
  }

  // R4 Real-time order: max(L, ti(c*)) < t* < min(U, tc(c*)).
  const absentReads = ops.filter((op) => op.kind === "lread" && op.tc !== null &&
    op.outcome.type === "absent");
  const lastAbsent = maxBy(absentReads, (op) => op.ti);
  const others = observations.filter((op) => op !== origin);
  const firstOther = minBy(others, (op) => op.tc as number);
  const originEnd = origin.outcome.type === "created" && origin.tc !== null ?
    origin.tc : Infinity;
  if (lastAbsent !== undefined && firstOther !== undefined &&
    lastAbsent.ti >= (firstOther.tc as number)) {
    report("R4", `absent after present: ${describe(lastAbsent)} was invoked at ` +
      `${lastAbsent.ti} after ${describe(firstOther)} completed at ${firstOther.tc}`,
    [firstOther, lastAbsent]);
  }
  if (lastAbsent !== undefined && lastAbsent.ti >= originEnd) {
    // With no other observation the key looks empty to everyone but its creator: R5.
    report(others.length === 0 ? "R5" : "R4", `absent after acknowledged create: ` +
      `${describe(lastAbsent)} was invoked at ${lastAbsent.ti} after ${describe(origin)} ` +
      `completed at ${originEnd}`, [origin, lastAbsent]);
  }
  if (firstOther !== undefined && origin.ti >= (firstOther.tc as number)) {
    report("R4", `value before its create: ${describe(firstOther)} completed at ` +
      `${firstOther.tc}, before ${describe(origin)} was invoked at ${origin.ti}`,
    [origin, firstOther]);
  }

  // R6 Durability: every create acknowledged before a final phase began is read back in it.
  for (const phase of options.durabilityPhases ?? []) {
    const finals = ops.filter((op) => op.kind === "lread" && op.phase === phase &&
      op.tc !== null && (op.outcome.type === "value" || op.outcome.type === "absent"));
    const began = options.phaseStarts?.get(phase) ?? Infinity;
    for (const op of created.filter((c) => (c.tc as number) < began)) {
      const wrong = finals.find((read) => observedValue(read) !== op.value);
      if (finals.length === 0) {
        report("R6", `acknowledged ${describe(op)} was never read back in phase "${phase}"`,
          [op]);
      } else if (wrong !== undefined) {
        report("R6", `lost acknowledged create: ${describe(op)}, but in phase "${phase}" ` +
          `${describe(wrong)}`, [op, wrong]);
      }
    }
  }

  // R7 Replica reads: (iii) monotonic per replica, (iv) converged after the heal.
  const replicaReads = ops.filter((op) => op.kind === "rread" && op.tc !== null &&
    (op.outcome.type === "value" || op.outcome.type === "absent"));
  const byReplica = new Map<string, Op[]>();
  for (const op of replicaReads) {
    if (op.replica === undefined) continue;
    byReplica.set(op.replica, [...(byReplica.get(op.replica) ?? []), op]);
  }
  for (const [replica, reads] of byReplica) {
    const firstHit = minBy(reads.filter((op) => op.outcome.type === "value"),
      (op) => op.tc as number);
    const laterMiss = firstHit === undefined ? undefined : reads.find((op) =>
      op.outcome.type === "absent" && op.ti > (firstHit.tc as number));
    if (firstHit !== undefined && laterMiss !== undefined) {
      report("R7", `replica ${replica} went back: ${describe(laterMiss)} after ` +
        `${describe(firstHit)}`, [firstHit, laterMiss]);
    }
  }
  if (options.convergedAt !== undefined) {
    const known = minBy([...others, ...(originEnd < Infinity ? [origin] : [])],
      (op) => op.tc as number);
    const since = options.convergedAt;
    const stale = known === undefined ? undefined : replicaReads.find((op) =>
      op.outcome.type === "absent" && op.ti >= since && op.ti > (known.tc as number));
    if (known !== undefined && stale !== undefined) {
      report("R7", `replica still stale after convergence at ${since}: ${describe(stale)}, ` +
        `though ${describe(known)}`, [known, stale]);
    }
  }

  return { value: vstar, anomalies };
}

function maxBy<T>(items: readonly T[], of: (item: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) if (best === undefined || of(item) > of(best)) best = item;
  return best;
}

function minBy<T>(items: readonly T[], of: (item: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) if (best === undefined || of(item) < of(best)) best = item;
  return best;
}

function show(value: string | undefined): string {
  if (value === undefined) return "(none)";
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** `create #12 (p3, created "v")`, for messages. */
export function describe(op: Op): string {
  const o = op.outcome;
  const result = o.type === "created" || o.type === "exists" || o.type === "value" ?
    `${o.type} ${show(o.value)}` :
    o.type === "fail" || o.type === "unknown" ?
      `${o.type}${o.code === undefined ? "" : ` ${o.code}`}` : o.type;
  const proposed = op.kind === "create" ? ` ${show(op.value)}` : "";
  return `${op.kind}${proposed} #${op.id} (${op.process}, ${result})`;
}
