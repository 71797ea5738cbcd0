/**
 * The safe backup: `paxoskv export` under load, interrupted and resumed, then everything wiped
 * (every server and every acceptor's Redis gone) and `paxoskv import` into a new cluster: every
 * key acknowledged before the export began reads back with its exact value.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { EXPORT_FORMAT, exportChosen, importChosen } from "../../src/cli/export.js";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { cleanup } from "./support/servers.js";

let cluster: LocalCluster | null = null;
const clients: PaxosKvClient[] = [];

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await cluster?.stopNodes();
  await cleanup();
});

async function startCluster(): Promise<PaxosKvClient> {
  cluster = await startLocalCluster({ logLevel: "warn" });
  for (const id of cluster.acceptors) await cluster.spawnNode(id);
  const client = await PaxosKvClient.connect({ servers: cluster.natsUrl, timeoutMs: 15_000,
    retries: 3 });
  clients.push(client);
  return client;
}

/** Values a user may store: quotes, newlines, a BOM-less multi-byte mix, empty. */
const valueOf = (i: number) => [`v${i}`, `"q"\n${i}`, `ключ ${i} 😀`, "", `a\u2028b${i}`][i % 5] as string;

it("export under load, interrupted and resumed; wipe everything; import: every key back",
  async () => {
    const first = await startCluster();
    const before = new Map<string, string>();
    for (let i = 0; i < 240; i++) {
      const key = `ex.k${i}`;
      const r = await first.create(key, valueOf(i));
      before.set(key, r.value);
    }
    // Load while the export runs: these may or may not be in it.
    let loading = true;
    let loaded = 0;
    const load = (async () => {
      while (loading) await first.create(`ex.load.${loaded++}`, "L").catch(() => undefined);
    })();

    const file = join(mkdtempSync(join(tmpdir(), "paxoskv-export-")), "backup.jsonl");
    const options = { client: first, prefix: cluster?.prefix ?? "paxoskv",
      acceptors: cluster?.acceptors ?? [], file, pageSize: 40 };
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 0); // during the first page: the export stops after it
    const partial = await exportChosen({ ...options, signal: stop.signal });
    expect(partial.complete).toBe(false);
    expect(partial.keysWritten).toBeGreaterThan(0);
    const resumed = await exportChosen({ ...options, resume: true });
    expect(resumed.complete).toBe(true);
    expect(resumed.acceptorsListed).toHaveLength(2);
    loading = false;
    await load;
    expect(loaded).toBeGreaterThan(0);

    // The file: a header, then entries and checkpoints; every key acknowledged before it.
    const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as
      { key?: string; value?: string });
    const entries = lines.filter((l) => l.key !== undefined);
    const exported = new Map(entries.map((l) => [l.key as string, l.value as string]));
    // A majority was listed whole: keys both listed acceptors hold are written twice.
    expect(entries.length).toBeGreaterThan(exported.size);
    for (const [key, value] of before) expect(exported.get(key), key).toBe(value);

    // Everything is lost: every NATS server, every acceptor's Redis, every node.
    await cluster?.stopNodes();
    await cleanup();
    const second = await startCluster();
    expect(await second.get("ex.k1")).toMatchObject({ found: false });
    const report = await importChosen(second, file);
    expect(report).toMatchObject({ conflicts: [], failed: 0 });
    expect(report.imported).toBe(entries.length);
    for (const [key, value] of exported) {
      expect(await second.get(key), key).toMatchObject({ found: true, value });
    }
    // Importing again changes nothing.
    const again = await importChosen(second, file);
    expect(again).toMatchObject({ imported: entries.length, conflicts: [], failed: 0 });
  }, 240_000);

it("import refuses a file that is not an export, and lists keys holding another value", async () => {
  const client = clients.at(-1) as PaxosKvClient;
  const dir = mkdtempSync(join(tmpdir(), "paxoskv-export-"));
  writeFileSync(join(dir, "not.jsonl"), '{"key":"a","value":"b"}\n');
  await expect(importChosen(client, join(dir, "not.jsonl"))).rejects.toThrow(/not a paxoskv export/);
  await client.create("ex.conflict", "here");
  writeFileSync(join(dir, "other.jsonl"), `${JSON.stringify({ format: EXPORT_FORMAT,
    acceptors: ["A", "B", "C"] })}\n{"key":"ex.conflict","value":"there"}\n`);
  expect(await importChosen(client, join(dir, "other.jsonl")))
    .toEqual({ imported: 0, conflicts: ["ex.conflict"], failed: 0 });
  expect(await client.get("ex.conflict")).toMatchObject({ value: "here" });
});
