/**
 * Found by `npm run chaos -- --seed 12 --faults partition-redis,partition-nats,kill-node`:
 * a learner that started while JetStream could not create its consumer (the request timed
 * out during a NATS partition) logged "chosen stream consumer stopped" and never followed the
 * stream again, so its replica stayed frozen for the life of the process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import {
  StallDetector, type ChosenLog, type ChosenRecord,
} from "../../src/adapters/jetstream/chosen-log.js";
import { SqliteReplicaStore } from "../../src/adapters/sqlite/replica-store.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import {
  CATCH_UP_FLUSH_MS, FOLLOW_RETRY_MS, LearnerRole,
} from "../../src/node/roles/learner-role.js";

it("learner: follows the chosen stream again after its consumer failed to attach", async () => {
  let calls = 0;
  const fake = {
    async follow(onRecord: (r: ChosenRecord) => void, _bad: unknown, signal: AbortSignal): Promise<void> {
      calls++;
      if (calls === 1) throw new Error("timeout");
      onRecord({ events: [{ key: "k", value: "v", ballot: "1.A" }], sequence: 1, pending: 0 });
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
  } as unknown as ChosenLog;
  await withReplica(SqliteReplicaStore.open, async (replica) => {
    const learner = learnerOn(fake, replica);
    learner.start();
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_RETRY_MS + 300));
    learner.stop();
    expect(calls).toBe(2);
    expect(learner.replica.get("k")?.value).toBe("v");
    expect(replica.sequence).toBe(1);
  });
});

/**
 * Found by `npm run chaos -- --seed 7`: after two NATS servers crashed one after the other,
 * learner C's ordered consumer stayed silent (lag 0, replica 4,454 of 4,613) for the rest of
 * the run. `follow` now closes a consumer that stays behind the stream's end without moving,
 * and the learner follows again (above).
 */
it("chosen log: the stall detector fires only when behind and still for the given checks", () => {
  const stall = new StallDetector(2);
  expect(stall.check(0, 10)).toBe(false); // first look: remember the position
  expect(stall.check(0, 10)).toBe(false); // behind and still: 1
  expect(stall.check(0, 12)).toBe(true); // behind and still: 2
  const moving = new StallDetector(2);
  for (let i = 1; i <= 5; i++) expect(moving.check(i, 100)).toBe(false); // behind but moving
  const caughtUp = new StallDetector(2);
  for (let i = 0; i < 5; i++) expect(caughtUp.check(7, 7)).toBe(false); // nothing to read
});

it("learner: resumes after its recorded sequence, and from the start of a stream created anew",
  async () => {
    const starts: number[] = [];
    const streams = ["s1", "s1", "s2"];
    const fake = {
      async follow(onRecord: (r: ChosenRecord) => void, _bad: unknown, _signal: AbortSignal,
        _attached: unknown, startOf: (stream: string) => { from: number }): Promise<void> {
        const { from } = startOf(streams[starts.length] ?? "s2");
        starts.push(from);
        if (starts.length === 1) {
          for (const sequence of [1, 2, 3]) {
            onRecord({ events: [{ key: `k${sequence}`, value: "v", ballot: "1.A" }], sequence,
              pending: 3 - sequence });
          }
        }
        await new Promise((resolve) => setImmediate(resolve)); // the batch is written
      },
    } as unknown as ChosenLog;
    await withReplica(SqliteReplicaStore.open, async (replica) => {
      const learner = learnerOn(fake, replica);
      learner.start(); // s1 from 1: applies 1-3, then the consumer ends
      await new Promise((resolve) => setTimeout(resolve, 2 * FOLLOW_RETRY_MS + 500));
      learner.stop();
      // s1 again: after 3, not from 1; then s2 (created anew): from 1, keeping the values.
      expect(starts).toEqual([1, 4, 1]);
      expect(replica.get("k3")?.value).toBe("v");
    });
  });

it("learner: behind the stream, it writes in large batches, and a partial one within " +
  "CATCH_UP_FLUSH_MS when messages stop coming", async () => {
  const fake = {
    async follow(onRecord: (r: ChosenRecord) => void, _bad: unknown, signal: AbortSignal)
      : Promise<void> {
      // Three messages read while 100 more wait: then nothing (a stalled consumer).
      for (const sequence of [1, 2, 3]) {
        onRecord({ events: [{ key: `k${sequence}`, value: "v", ballot: "1.A" }], sequence,
          pending: 100 });
      }
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
  } as unknown as ChosenLog;
  await withReplica(SqliteReplicaStore.open, async (replica) => {
    const learner = learnerOn(fake, replica);
    learner.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(replica.size).toBe(0); // waiting for more, not one commit per message
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_FLUSH_MS + 100));
    expect([replica.size, replica.sequence]).toEqual([3, 3]);
    learner.stop();
  });
});

/** A learner of every key on `log` and `replica`, resolving nothing, logging nothing. */
function learnerOn(log: ChosenLog, replica: SqliteReplicaStore): LearnerRole {
  return new LearnerRole("paxoskv", log, replica, ">", async () => null, () => undefined,
    () => undefined, createLogger("T", "silent"));
}

/** Runs `body` with a replica in a temporary directory, then closes and removes both. */
async function withReplica(
  open: (dir: string) => SqliteReplicaStore, body: (replica: SqliteReplicaStore) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "paxoskv-learner-"));
  const replica = open(dir);
  try {
    await body(replica);
  } finally {
    replica.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A replica store that fails its first `failures` writes (a full disk for a moment). */
function failingReplica(dir: string, failures: number): SqliteReplicaStore {
  const store = SqliteReplicaStore.open(dir);
  const apply = store.apply.bind(store);
  let left = failures;
  store.apply = (values, sequence) => {
    if (left-- > 0) throw new Error("disk full");
    return apply(values, sequence);
  };
  return store;
}

/**
 * Found by review of the merge of the on-disk replica with the lost-stream refollow: a failed
 * write aborts the consumer so that the stream is read again from the recorded sequence, and
 * the end of that consumer must lead to a new one (it left the replica frozen, never attached).
 */
it("learner: after a failed replica write it follows the stream again and stores the value",
  async () => {
    let calls = 0;
    const fake = {
      async follow(onRecord: (r: ChosenRecord) => void, _bad: unknown, signal: AbortSignal,
        onAttached: (a: { from: number; pending: number }) => void,
        startOf: (stream: string) => unknown): Promise<void> {
        calls++;
        startOf("s1");
        onAttached({ from: 1, pending: 0 });
        onRecord({ events: [{ key: "k", value: "v", ballot: "1.A" }], sequence: 1, pending: 0 });
        await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      },
    } as unknown as ChosenLog;
    await withReplica((dir) => failingReplica(dir, 1), async (replica) => {
      const learner = learnerOn(fake, replica);
      learner.start();
      await new Promise((resolve) => setTimeout(resolve, 2 * FOLLOW_RETRY_MS + 300));
      learner.stop();
      expect(calls).toBe(2);
      expect(learner.replica.get("k")?.value).toBe("v");
      expect(learner.attached).toBe(true);
    });
  });

/**
 * The same review: a refollow (the stream was lost and made again) while a retry of a failed
 * follow was pending started a second consumer beside the first, for good.
 */
it("learner: a refollow while a retry is pending leaves one consumer", async () => {
  let live = 0;
  let most = 0;
  let streamUp = false;
  const fake = {
    async follow(_onRecord: unknown, _bad: unknown, signal: AbortSignal,
      onAttached: (a: { from: number; pending: number }) => void,
      startOf: (stream: string) => unknown): Promise<void> {
      if (!streamUp) throw new Error("stream not found");
      startOf("s2");
      onAttached({ from: 1, pending: 0 });
      live++;
      most = Math.max(most, live);
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      live--;
    },
  } as unknown as ChosenLog;
  await withReplica(SqliteReplicaStore.open, async (replica) => {
    const learner = learnerOn(fake, replica);
    learner.start(); // fails: its retry is pending
    await new Promise((resolve) => setTimeout(resolve, 100));
    streamUp = true;
    learner.refollow(); // the stream was made again
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_RETRY_MS + 300));
    expect(live).toBe(1);
    expect(most).toBe(1);
    learner.stop();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(live).toBe(0);
  });
});
