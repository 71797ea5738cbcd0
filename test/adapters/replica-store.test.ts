/** The learner's replica in SQLite (node:sqlite), on a real file in a temporary directory. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  REPLICA_FILE, ReplicaStoreError, SqliteReplicaStore,
} from "../../src/adapters/sqlite/replica-store.js";
import type { Chosen } from "../../src/core/learner.js";

let dir: string;
const open: SqliteReplicaStore[] = [];
const chosen = (key: string, value: string, round = 1): Chosen =>
  ({ key, value, ballot: { round, nodeId: "A" } });
const openStore = () => {
  const store = SqliteReplicaStore.open(dir);
  open.push(store);
  return store;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "paxoskv-replica-"));
});
afterEach(() => {
  for (const store of open.splice(0)) store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("replica store", () => {
  it("replica store - values, the key count and the sequence survive a reopen", () => {
    const store = openStore();
    expect(store.apply([chosen("a", "1"), chosen("b", "2")], 7))
      .toEqual([{ kind: "learned" }, { kind: "learned" }]);
    store.close();
    const again = openStore();
    expect(again.get("a")).toEqual(chosen("a", "1"));
    expect(again.get("c")).toBeUndefined();
    expect([again.size, again.sequence]).toEqual([2, 7]);
  });

  // "a chosen value never changes": a second value is reported, never stored.
  it("replica store - pages go through every value once, in key order", () => {
    const store = openStore();
    const keys = Array.from({ length: 2345 }, (_, i) => `k.${(i * 7919) % 2345}`);
    store.apply(keys.map((k) => chosen(k, `v-${k}`)), 1);
    const seen: string[] = [];
    for (let after: string | null = null; ;) {
      const page = store.page(after, 1000);
      for (const c of page) expect(c.value).toBe(`v-${c.key}`);
      seen.push(...page.map((c) => c.key));
      if (page.length < 1000) break;
      after = page.at(-1)?.key ?? null;
    }
    expect(seen).toEqual([...keys].sort());
  });

  it("replica store - a second, different value is a conflict and is not stored", () => {
    const store = openStore();
    store.apply([chosen("a", "1")], 1);
    expect(store.apply([chosen("a", "1", 5), chosen("a", "2", 9)], 2)).toEqual([
      { kind: "known" }, { kind: "conflict", held: chosen("a", "1") },
    ]);
    expect(store.get("a")).toEqual(chosen("a", "1"));
    expect(store.size).toBe(1);
  });

  it("replica store - a stream created anew sets the sequence back to 0, values kept", () => {
    const store = openStore();
    store.follows("stream-1");
    store.apply([chosen("a", "1")], 40);
    store.follows("stream-1");
    expect(store.sequence).toBe(40);
    store.follows("stream-2");
    expect(store.sequence).toBe(0);
    store.close();
    const again = openStore();
    expect([again.sequence, again.get("a")?.value]).toEqual([0, "1"]);
  });

  it("replica store - a second process on the same directory is refused", () => {
    openStore();
    expect(() => SqliteReplicaStore.open(dir)).toThrow(/open in another process/);
  });

  it("replica store - a directory that cannot be made, or another format, is a clear error",
    () => {
      expect(() => SqliteReplicaStore.open("/etc/passwd/replica"))
        .toThrow(new ReplicaStoreError("cannot create the data directory /etc/passwd/replica " +
          "(ENOTDIR)"));
      openStore().close();
      const db = new DatabaseSync(join(dir, REPLICA_FILE));
      db.exec("UPDATE meta SET value = '9' WHERE name = 'format'");
      db.close();
      expect(() => SqliteReplicaStore.open(dir)).toThrow(/has format 9; this version reads/);
    });
});
