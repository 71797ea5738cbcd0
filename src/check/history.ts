/**
 * A recorded history of client operations on the write-once store, as the checker reads it
 * (`docs/reliability.md`, "The checker"). Every time is one monotonic clock of the
 * process that recorded the history (milliseconds); `tc` is null for an operation that never
 * completed.
 */

/** `create` proposes a value; `lread` is a linearizable get; `rread` a replica-get. */
export type OpKind = "create" | "lread" | "rread";

export type Outcome =
  /** create: the key's value is the one this create proposed (reply `created:true`). */
  | { readonly type: "created"; readonly value: string }
  /** create: the key already has another value (reply `created:false`). */
  | { readonly type: "exists"; readonly value: string }
  /** Certainly not done (create: UNAVAILABLE, INVALID_KEY, ...; read: any failure). */
  | { readonly type: "fail"; readonly code?: string }
  /** Outcome unknown: TIMEOUT, a lost connection, a crashed node. */
  | { readonly type: "unknown"; readonly code?: string }
  /** read: the key has this value. */
  | { readonly type: "value"; readonly value: string }
  /** read: the key has no value. */
  | { readonly type: "absent" };

export interface Op {
  /** Unique within the history. */
  readonly id: number;
  /** The client (logical process) that issued it; one operation at a time per process. */
  readonly process: string;
  readonly key: string;
  readonly kind: OpKind;
  /** create: the value proposed; unique across the history. */
  readonly value?: string;
  /** Invocation time. */
  readonly ti: number;
  /** Completion time, or null when no reply ever came (then the outcome is `unknown`). */
  readonly tc: number | null;
  readonly outcome: Outcome;
  /** rread: the replica (and incarnation) that answered, when the recorder knows it. */
  readonly replica?: string;
  /** A label for the part of the run, e.g. "run", "final", "restart". */
  readonly phase?: string;
}

/** A broken rule, with the operations that show it. */
export interface Anomaly {
  readonly rule: "R1" | "R2" | "R3" | "R4" | "R5" | "R6" | "R7" | "R8";
  readonly key: string;
  readonly message: string;
  readonly ops: readonly number[];
}

/** Whether the operation saw a value for its key, and which. */
export function observedValue(op: Op): string | null {
  const o = op.outcome;
  if (o.type === "created" || o.type === "exists" || o.type === "value") return o.value;
  return null;
}
