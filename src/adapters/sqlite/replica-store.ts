import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { decideLearn, type Chosen, type LearnResult } from "../../core/learner.js";
import type { ReplicaStore } from "../ports.js";
import { OperatorCode } from "../../protocol/codes.js";

/** The on-disk format this code reads and writes; another one is refused, never rewritten. */
export const REPLICA_FORMAT = "1";
export const REPLICA_FILE = "replica.db";

/** The data directory cannot hold a replica: named, with why. */
export class ReplicaStoreError extends Error {
  override readonly name = "ReplicaStoreError";
  readonly code = OperatorCode.BAD_CONFIG;
}

interface Row {
  readonly value: string;
  readonly round: number;
  readonly node: string;
}

/**
 * The replica in SQLite (node:sqlite, no native dependency): one row per key in a table
 * without rowid (the key is the B-tree's), the sequence and the key count in `meta`, written in
 * the transaction of the values they describe. WAL with synchronous=NORMAL: a power loss may
 * drop the last transactions but never splits one, so values and sequence stay consistent and
 * the stream replays what was dropped. The database is locked to this process (exclusive
 * locking), so two nodes given one data directory fail at start instead of sharing it.
 */
export class SqliteReplicaStore implements ReplicaStore {
  readonly #select: StatementSync;
  readonly #page: StatementSync;
  readonly #insert: StatementSync;
  readonly #readMeta: StatementSync;
  readonly #writeMeta: StatementSync;
  readonly #deleteMeta: StatementSync;
  #sequence: number;
  #size: number;

  private constructor(private readonly db: DatabaseSync) {
    this.#select = db.prepare("SELECT value, round, node FROM chosen WHERE key = ?");
    this.#page = db.prepare(
      "SELECT key, value, round, node FROM chosen WHERE key > ? ORDER BY key LIMIT ?");
    this.#insert = db.prepare("INSERT INTO chosen (key, value, round, node) VALUES (?, ?, ?, ?)");
    this.#readMeta = db.prepare("SELECT value FROM meta WHERE name = ?");
    this.#writeMeta = db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)");
    this.#deleteMeta = db.prepare("DELETE FROM meta WHERE name = ?");
    this.#sequence = Number(this.note("sequence") ?? 0);
    this.#size = Number(this.note("size") ?? 0);
  }

  /** Opens (creating when needed) the replica in `dir`. */
  static open(dir: string): SqliteReplicaStore {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new ReplicaStoreError(`cannot create the data directory ${dir} (${codeOf(err)})`,
        { cause: err });
    }
    const path = join(dir, REPLICA_FILE);
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { timeout: 0 });
      db.exec(`PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL;`);
      // Takes the write lock now and keeps it (exclusive mode), before anything is read.
      db.exec(`BEGIN IMMEDIATE;
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)
          WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS chosen (key TEXT PRIMARY KEY, value TEXT NOT NULL,
          round INTEGER NOT NULL, node TEXT NOT NULL) WITHOUT ROWID;
        INSERT OR IGNORE INTO meta (name, value) VALUES ('format', '${REPLICA_FORMAT}');
        COMMIT;`);
    } catch (err) {
      db?.close();
      const message = err instanceof Error ? err.message : String(err);
      throw new ReplicaStoreError(/locked|busy/i.test(message)
        ? `the replica ${path} is open in another process (two nodes with one data directory?)`
        : `cannot open the replica ${path}: ${message}`, { cause: err });
    }
    const store = new SqliteReplicaStore(db);
    const format = store.note("format");
    if (format !== REPLICA_FORMAT) {
      db.close();
      throw new ReplicaStoreError(`the replica ${path} has format ${format}; this version ` +
        `reads format ${REPLICA_FORMAT} (move it away: the learner replays the stream)`);
    }
    return store;
  }

  get sequence(): number {
    return this.#sequence;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): Chosen | undefined {
    const row = this.#select.get(key) as Row | undefined;
    return row === undefined ? undefined :
      { key, value: row.value, ballot: { round: row.round, nodeId: row.node } };
  }

  page(after: string | null, limit: number): Chosen[] {
    // Keys are never empty, so "" is below every key.
    return (this.#page.all(after ?? "", limit) as unknown as (Row & { key: string })[]).map((row) =>
      ({ key: row.key, value: row.value, ballot: { round: row.round, nodeId: row.node } }));
  }

  apply(values: readonly Chosen[], sequence: number | null): LearnResult[] {
    const results: LearnResult[] = [];
    let size = this.#size;
    this.db.exec("BEGIN");
    try {
      for (const chosen of values) {
        const result = decideLearn(this.get(chosen.key), chosen);
        if (result.kind === "learned") {
          this.#insert.run(chosen.key, chosen.value, chosen.ballot.round, chosen.ballot.nodeId);
          size++;
        }
        results.push(result);
      }
      if (size !== this.#size) this.#writeMeta.run("size", String(size));
      if (sequence !== null) this.#writeMeta.run("sequence", String(sequence));
      this.db.exec("COMMIT");
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    }
    this.#size = size;
    if (sequence !== null) this.#sequence = sequence;
    return results;
  }

  follows(stream: string): void {
    if (this.note("stream") === stream) return;
    this.db.exec("BEGIN");
    try {
      this.#writeMeta.run("stream", stream);
      this.#writeMeta.run("sequence", "0");
      this.db.exec("COMMIT");
    } catch (err) {
      this.db.exec("ROLLBACK");
      throw err;
    }
    this.#sequence = 0;
  }

  note(name: string): string | null {
    return (this.#readMeta.get(name) as { value: string } | undefined)?.value ?? null;
  }

  setNote(name: string, value: string | null): void {
    if (value === null) this.#deleteMeta.run(name);
    else this.#writeMeta.run(name, value);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}

function codeOf(err: unknown): string {
  return err instanceof Error && "code" in err ? String(err.code) : String(err);
}
