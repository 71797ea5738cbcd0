/**
 * A learner reading the chosen log's batches: a message is applied whole, with its sequence,
 * in one transaction; a key seen again with the same value changes nothing and with another
 * value is never stored; a partial replica stores only its keys but reports every key it read
 * (an acceptor on its node stops tracking them).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import type { ChosenLog, ChosenRecord } from "../../src/adapters/jetstream/chosen-log.js";
import { SqliteReplicaStore } from "../../src/adapters/sqlite/replica-store.js";
import { APPLY_BATCH_MAX, LearnerRole } from "../../src/node/roles/learner-role.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import type { ChosenEvent } from "../../src/protocol/replies.js";

/** A log whose follow hands out `records` and then waits to be stopped. */
function logOf(records: readonly ChosenRecord[]): ChosenLog {
  return {
    async follow(onRecord: (r: ChosenRecord) => void, _bad: unknown, signal: AbortSignal,
      onAttached: (a: { from: number; pending: number }) => void,
      startOf: (stream: string, last: number) => unknown): Promise<void> {
      startOf("s1", records.length);
      onAttached({ from: 1, pending: records.length });
      for (const r of records) onRecord(r);
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
  } as unknown as ChosenLog;
}

const event = (key: string, value: string): ChosenEvent => ({ key, value, ballot: "1.A" });
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

async function withReplica(body: (replica: SqliteReplicaStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paxoskv-learner-"));
  const replica = SqliteReplicaStore.open(dir);
  try {
    await body(replica);
  } finally {
    replica.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

it("learner: a message of more events than a transaction's batch is written whole with its " +
  "sequence (never a sequence with half of its events)", async () => {
  const events = Array.from({ length: APPLY_BATCH_MAX + 500 }, (_, i) => event(`k${i}`, "v"));
  await withReplica(async (replica) => {
    const writes: { values: number; sequence: number | null; sizeAfter: number }[] = [];
    const apply = replica.apply.bind(replica);
    replica.apply = (values, sequence) => {
      const results = apply(values, sequence);
      writes.push({ values: values.length, sequence, sizeAfter: replica.size });
      return results;
    };
    const learner = new LearnerRole("paxoskv", logOf([{ events, sequence: 7, pending: 0 }]),
      replica, ">", async () => null, () => undefined, () => undefined,
      createLogger("T", "silent"));
    learner.start();
    await settle();
    learner.stop();
    expect(replica.sequence).toBe(7);
    expect(replica.size).toBe(events.length);
    // Whenever the sequence was written, every event of its message was in the store.
    for (const w of writes) if (w.sequence !== null) expect(w.sizeAfter).toBe(events.length);
  });
});

it("learner: duplicates are no-ops, a second value is never stored, and a partial replica " +
  "stores its keys only but reports every key it read", async () => {
  const seen: string[] = [];
  await withReplica(async (replica) => {
    const learner = new LearnerRole("paxoskv", logOf([
      { events: [event("orders.1", "a"), event("orders.1", "a"), event("users.1", "u")],
        sequence: 1, pending: 1 },
      { events: [event("orders.1", "b"), event("orders.2", "c")], sequence: 2, pending: 0 },
    ]), replica, "orders.>", async () => null, () => undefined, (key) => seen.push(key),
    createLogger("T", "silent"));
    learner.start();
    await settle();
    learner.stop();
    expect(replica.get("orders.1")?.value).toBe("a");
    expect(replica.get("orders.2")?.value).toBe("c");
    expect(replica.get("users.1")).toBeUndefined();
    expect([replica.size, replica.sequence]).toEqual([2, 2]);
    expect(seen).toEqual(["orders.1", "orders.1", "users.1", "orders.1", "orders.2"]);
  });
});

it("learner: an event whose ballot does not parse is neither stored nor reported seen (the " +
  "acceptors' repair must still announce its key), and the rest of its message is", async () => {
  const seen: string[] = [];
  await withReplica(async (replica) => {
    const learner = new LearnerRole("paxoskv", logOf([
      { events: [{ key: "bad.1", value: "x", ballot: "not-a-ballot" }, event("good.1", "g")],
        sequence: 1, pending: 0 },
    ]), replica, ">", async () => null, () => undefined, (key) => seen.push(key),
    createLogger("T", "silent"));
    learner.start();
    await settle();
    learner.stop();
    expect(replica.get("bad.1")).toBeUndefined();
    expect(replica.get("good.1")?.value).toBe("g");
    expect(seen).toEqual(["good.1"]);
  });
});
