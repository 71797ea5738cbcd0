/**
 * Chooses the learner replica's on-disk store: node:sqlite against lmdb, for the two things a
 * learner does with it, applying stream batches (a transaction per batch, each key checked
 * write-once and stored, the sequence recorded) and answering replica-gets.
 *
 *   npx tsx src/bench/replica-store.ts [keys=200000] [batch=256]
 *
 * lmdb is not a dependency: install it beside the project to include it
 * (`npm i --no-save lmdb`); without it only node:sqlite is measured.
 */
import { mkdtempSync, rmSync, statSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

const KEYS = Number(process.argv[2] ?? 200_000);
const BATCH = Number(process.argv[3] ?? 256);
const GETS = 100_000;
const VALUE = "v".repeat(100);

interface Candidate {
  readonly name: string;
  /** Applies one batch in one transaction: write-once check, store, record the sequence. */
  apply(keys: readonly string[], sequence: number): void;
  get(key: string): string | undefined;
  close(): Promise<void> | void;
}

function sqlite(dir: string, synchronous: "OFF" | "NORMAL" | "FULL"): Candidate {
  const db = new DatabaseSync(join(dir, "replica.db"));
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${synchronous};
    CREATE TABLE chosen (key TEXT PRIMARY KEY, value TEXT NOT NULL, ballot TEXT NOT NULL)
      WITHOUT ROWID;
    CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;`);
  const insert = db.prepare(
    "INSERT INTO chosen (key, value, ballot) VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
  const select = db.prepare("SELECT value FROM chosen WHERE key = ?");
  const setSeq = db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('seq', ?)");
  return {
    name: `node:sqlite (WAL, synchronous=${synchronous})`,
    apply(keys, sequence) {
      db.exec("BEGIN");
      for (const key of keys) {
        if (insert.run(key, VALUE, "1.A").changes === 0) {
          if ((select.get(key) as { value: string }).value !== VALUE) throw new Error("conflict");
        }
      }
      setSeq.run(sequence);
      db.exec("COMMIT");
    },
    get: (key) => (select.get(key) as { value: string } | undefined)?.value,
    close: () => db.close(),
  };
}

async function lmdb(dir: string, noSync: boolean): Promise<Candidate | null> {
  let mod: { open: (options: object) => LmdbDb };
  try {
    mod = await import("lmdb" as string) as typeof mod;
  } catch {
    return null;
  }
  const db = mod.open({ path: join(dir, "replica.lmdb"), noSync, encoding: "string" });
  return {
    name: `lmdb (${noSync ? "noSync" : "sync on commit"})`,
    apply(keys, sequence) {
      db.transactionSync(() => {
        for (const key of keys) {
          const held = db.get(key);
          if (held === undefined) db.putSync(key, `1.A ${VALUE}`);
          else if (held.slice(4) !== VALUE) throw new Error("conflict");
        }
        db.putSync("\u0000seq", String(sequence));
      });
    },
    get: (key) => db.get(key),
    close: () => db.close(),
  };
}

interface LmdbDb {
  get(key: string): string | undefined;
  putSync(key: string, value: string): void;
  transactionSync(fn: () => void): void;
  close(): Promise<void>;
}

function duBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

async function run(make: (dir: string) => Candidate | null | Promise<Candidate | null>) {
  const dir = mkdtempSync(join(tmpdir(), "replica-bench-"));
  try {
    const store = await make(dir);
    if (store === null) return;
    const keys = Array.from({ length: KEYS }, (_v, i) => `orders.${(i * 7919) % KEYS}`);
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    for (let i = 0; i < KEYS; i += BATCH) store.apply(keys.slice(i, i + BATCH), i + BATCH);
    const applySec = (performance.now() - t0) / 1000;
    const lat: number[] = [];
    for (let i = 0; i < GETS; i++) {
      const key = keys[(i * 104_729) % KEYS] as string;
      const s = performance.now();
      if (store.get(key) === undefined) throw new Error(`lost ${key}`);
      lat.push(performance.now() - s);
    }
    lat.sort((a, b) => a - b);
    const us = (p: number) => ((lat[Math.floor(p * lat.length)] ?? NaN) * 1000).toFixed(1);
    const mean = lat.reduce((a, b) => a + b, 0) / lat.length * 1000;
    console.log(`${store.name}: apply ${Math.round(KEYS / applySec)} keys/s ` +
      `(${KEYS} keys, batches of ${BATCH}); get p50 ${us(0.5)} µs p99 ${us(0.99)} µs ` +
      `mean ${mean.toFixed(1)} µs; disk ${(duBytes(dir) / 1e6).toFixed(1)} MB; heap +` +
      `${((process.memoryUsage().heapUsed - heapBefore) / 1e6).toFixed(0)} MB`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await run((dir) => sqlite(dir, "OFF"));
await run((dir) => sqlite(dir, "NORMAL"));
await run((dir) => sqlite(dir, "FULL"));
await run((dir) => lmdb(dir, true));
await run((dir) => lmdb(dir, false));
