// Apply cost per key as the replica grows, with SQLite's default page cache and a larger one.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
const N = Number(process.argv[2] ?? 20_000_000), CACHE = process.argv[3] ?? "-2000", BATCH = 128, SEG = N / 10;
const db = new DatabaseSync(join(mkdtempSync("/work/probe/rep-"), "replica.db"));
db.exec(`PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = ${CACHE};
  CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE chosen (key TEXT PRIMARY KEY, value TEXT NOT NULL, round INTEGER NOT NULL, node TEXT NOT NULL) WITHOUT ROWID;`);
const select = db.prepare("SELECT value, round, node FROM chosen WHERE key = ?");
const insert = db.prepare("INSERT INTO chosen (key, value, round, node) VALUES (?, ?, ?, ?)");
const meta = db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)");
const value = "x".repeat(24);
let seq = 0, cpu = process.cpuUsage();
for (let i = 0; i < N; i += BATCH) {
  db.exec("BEGIN");
  for (let j = i; j < i + BATCH; j++) { const k = `scale.7.${j}`; if (select.get(k) === undefined) insert.run(k, value, 0, "fast"); }
  meta.run("size", String(i)); meta.run("sequence", String(++seq));
  db.exec("COMMIT");
  // the paced rebuild: ~1000 random keys a second against ~3500 creates a second
  for (let k = 0; k < 36; k++) select.get(`scale.7.${Math.floor(Math.random() * (i + 1))}`);
  if ((i + BATCH) % SEG < BATCH) {
    const c = process.cpuUsage(cpu);
    console.log(`cache ${CACHE} ${i + BATCH} keys: ${((c.user + c.system) / SEG).toFixed(2)} us cpu/key (sys ${(c.system / SEG).toFixed(2)})`);
    cpu = process.cpuUsage();
  }
}
