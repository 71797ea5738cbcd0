/**
 * `paxoskv export` and `paxoskv import`: the safe backup of a cluster. An export is every
 * chosen key and value, each read with a linearizable `get` (a quorum read, finishing an
 * undecided key first), written as JSON Lines; an import creates them in another cluster
 * (a disaster-recovery path when every acceptor is lost). Never restore an acceptor's Redis
 * from a backup: a rolled-back acceptor would vote with promises it no longer holds.
 *
 * Which keys: a chosen value was accepted by a majority, so the key lists of any majority of
 * acceptors hold every chosen key. The export pages through the acceptors' lists one acceptor
 * after another until a majority has been listed whole; a key held by several of them is
 * written once per listing, always with its one value (memory stays flat; the import takes a
 * repeat as already there). After each page a checkpoint line records where the listing is, so
 * an interrupted export resumes from its last checkpoint (`--resume`).
 */
import { appendFileSync, createReadStream, existsSync, readFileSync, writeFileSync } from "node:fs";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { PaxosKvClient } from "../client/client.js";
import { quorumSize } from "../core/quorum.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { paxosListSubject } from "../protocol/subjects.js";
import { ListReplySchema, LIST_PAGE_MAX, WIRE_VERSION } from "../protocol/wire.js";

export const EXPORT_FORMAT = "paxoskv-export/1";

const HeaderSchema = z.object({ format: z.literal(EXPORT_FORMAT), acceptors: z.array(z.string()) })
  .strict();
const EntrySchema = z.object({ key: z.string(), value: z.string() }).strict();
/** Where the listing stands: acceptors listed whole, the one being listed and its cursor. */
const CheckpointSchema = z.object({
  checkpoint: z.object({
    listed: z.array(z.string()), current: z.string().nullable(), cursor: z.string(),
    failed: z.array(z.string()),
  }).strict(),
}).strict();
type Checkpoint = z.infer<typeof CheckpointSchema>["checkpoint"];

export interface ExportOptions {
  readonly client: PaxosKvClient;
  readonly prefix: string;
  readonly acceptors: readonly string[];
  readonly file: string;
  /** Continue the export already in `file` from its last checkpoint. */
  readonly resume?: boolean;
  /** Keys per listing page (at most LIST_PAGE_MAX). */
  readonly pageSize?: number;
  readonly requestTimeoutMs?: number;
  /** Gets in flight. */
  readonly concurrency?: number;
  /** Stops after the page in progress (tests: an interrupted export). */
  readonly signal?: AbortSignal;
}

export interface ExportReport {
  readonly file: string;
  /** Acceptors whose whole key list was read. */
  readonly acceptorsListed: readonly string[];
  readonly keysWritten: number;
  /** Keys some acceptor holds but for which no value is chosen. */
  readonly notChosen: number;
  /** True when a majority was listed whole: the file holds every key chosen before it began. */
  readonly complete: boolean;
}

export async function exportChosen(o: ExportOptions): Promise<ExportReport> {
  const majority = quorumSize(o.acceptors.length);
  let at: Checkpoint = { listed: [], current: null, cursor: "0", failed: [] };
  if (o.resume === true && existsSync(o.file)) at = lastCheckpoint(o.file, o.acceptors);
  else writeFileSync(o.file, `${JSON.stringify({ format: EXPORT_FORMAT, acceptors: o.acceptors })}\n`);
  let keysWritten = 0;
  let notChosen = 0;
  while (at.listed.length < majority && o.signal?.aborted !== true) {
    const current = at.current ?? o.acceptors.find((a) =>
      !at.listed.includes(a) && !at.failed.includes(a)) ?? null;
    if (current === null) {
      throw new PaxosKvError(ErrorCode.UNAVAILABLE, `only ${at.listed.length} acceptor(s) ` +
        `listed their keys (${at.failed.join(", ")} failed); an export needs ${majority} of ` +
        `${o.acceptors.length}. Run it again with --resume once they answer.`);
    }
    let page: z.infer<typeof ListReplySchema>;
    try {
      page = await listPage(o.client.nc, o.prefix, current, at.cursor,
        o.pageSize ?? LIST_PAGE_MAX, o.requestTimeoutMs ?? 10_000);
    } catch {
      // This acceptor cannot be listed now: another one completes the majority.
      at = { ...at, current: null, cursor: "0", failed: [...at.failed, current] };
      continue;
    }
    const lines: string[] = [];
    await forEachLimit(page.keys, o.concurrency ?? 32, async (key) => {
      const got = await o.client.get(key);
      if (got.found) lines.push(jsonLine({ key, value: got.value }));
      else notChosen++;
    });
    keysWritten += lines.length;
    at = page.cursor === "0"
      ? { ...at, listed: [...at.listed, current], current: null, cursor: "0" }
      : { ...at, current, cursor: page.cursor };
    // One append: the page's entries and the checkpoint after them land together.
    appendFileSync(o.file, [...lines, jsonLine({ checkpoint: at })].join("\n") + "\n");
  }
  return { file: o.file, acceptorsListed: at.listed, keysWritten, notChosen,
    complete: at.listed.length >= majority };
}

export interface ImportReport {
  /**
   * Entries whose key now holds the exported value: created now, or already (a repeat in the
   * file, an import run again): `created` says only that the value is the one proposed.
   */
  readonly imported: number;
  /** Keys that hold another value in this cluster: not imported, listed. */
  readonly conflicts: readonly string[];
  readonly failed: number;
}

/** Creates every entry of an export in the cluster `client` talks to. */
export async function importChosen(
  client: PaxosKvClient, file: string, concurrency = 64,
): Promise<ImportReport> {
  const lines = linesOf(file);
  let imported = 0;
  let failed = 0;
  const conflicts: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let first = true;
  for await (const line of lines) {
    if (line === "") continue;
    const json: unknown = JSON.parse(line);
    if (first) {
      if (!HeaderSchema.safeParse(json).success) {
        throw new PaxosKvError(ErrorCode.BAD_REQUEST, `${file} is not a paxoskv export ` +
          `(its first line must name ${EXPORT_FORMAT})`);
      }
      first = false;
      continue;
    }
    if (CheckpointSchema.safeParse(json).success) continue;
    const entry = EntrySchema.parse(json);
    const work = client.create(entry.key, entry.value).then((r) => {
      if (r.value === entry.value) imported++;
      else conflicts.push(entry.key);
    }, () => { failed++; }).finally(() => inFlight.delete(work));
    inFlight.add(work);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (first) throw new PaxosKvError(ErrorCode.BAD_REQUEST, `${file} is empty`);
  return { imported, conflicts, failed };
}

/**
 * One JSON Lines record. U+2028 and U+2029 are valid inside JSON strings, but line readers
 * (Node's readline among them) break lines there: escaped, a record stays on its line.
 */
function jsonLine(x: unknown): string {
  return JSON.stringify(x).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** The lines of a file, split at "\n" only, streamed. */
async function* linesOf(file: string): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of createReadStream(file, "utf8")) {
    const parts = (rest + String(chunk)).split("\n");
    rest = parts.pop() ?? "";
    yield* parts;
  }
  if (rest !== "") yield rest;
}

/** The last checkpoint of an export file; an export without one starts over. */
function lastCheckpoint(file: string, acceptors: readonly string[]): Checkpoint {
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
  const header = HeaderSchema.safeParse(JSON.parse(lines[0] ?? "null"));
  if (!header.success || header.data.acceptors.join(",") !== acceptors.join(",")) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, `${file} is not an export of acceptors ` +
      `${acceptors.join(",")}: cannot resume it`);
  }
  for (let i = lines.length - 1; i > 0; i--) {
    const parsed = CheckpointSchema.safeParse(JSON.parse(lines[i] as string));
    // Acceptors that failed before may answer now: the resumed export tries them again.
    if (parsed.success) return { ...parsed.data.checkpoint, failed: [] };
  }
  return { listed: [], current: null, cursor: "0", failed: [] };
}

async function listPage(
  nc: NatsConnection, prefix: string, acceptor: string, cursor: string, count: number,
  timeoutMs: number,
): Promise<z.infer<typeof ListReplySchema>> {
  const msg = await nc.request(paxosListSubject(prefix, acceptor),
    JSON.stringify({ v: WIRE_VERSION, cursor, count }), { timeout: timeoutMs });
  return ListReplySchema.parse(msg.json());
}

async function forEachLimit<T>(
  items: readonly T[], limit: number, run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await run(items[next++] as T);
  }));
}
