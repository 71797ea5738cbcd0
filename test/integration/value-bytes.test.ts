/**
 * "A value is stored and returned as exactly the bytes the request carried (valid UTF-8; no
 * BOM stripping, no normalisation); created compares those bytes" (DESIGN.md), end to end on
 * a real cluster: for each byte-level edge case a user could send, a create answers those
 * bytes, every acceptor of the majority holds them in Redis, the chosen event on the stream
 * carries them, and get and replica-get answer them, also after the learner re-reads the
 * stream from its start, and through a quorum read of the acceptors. The same through the
 * TypeScript client and the CLI (a value from a file and from stdin). Invalid UTF-8 is a
 * BAD_REQUEST that stores nothing.
 *
 * Nodes A, B, C are proposers and acceptors only; L is a learner only, so every read is
 * answered by a replica built from the JetStream chosen stream. They take values up to
 * 512 KiB, so a value too large for a command line can go through the CLI.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { CHOSEN_STREAM } from "../../src/protocol/subjects.js";
import { AcceptorRedis, connectTo, poll, tearDown } from "./support/cluster-tools.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** The test's own strict decoder, independent of the code under test: keeps a leading BOM. */
const exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const bytesOf = (text: string) => new Uint8Array(Buffer.from(text, "utf8"));
const hex = (data: Uint8Array) => Buffer.from(data).toString("hex");

/** Byte-level edge cases of valid UTF-8, each sent as raw bytes. */
const VALID: readonly [string, Uint8Array][] = [
  ["a leading BOM", new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0x62, 0x63])],
  ["only a BOM", new Uint8Array([0xef, 0xbb, 0xbf])],
  ["two leading BOMs", bytesOf("\ufeff\ufeffx")],
  ["a BOM inside", bytesOf("ab\ufeffc")],
  ["a trailing BOM", bytesOf("abc\ufeff")],
  ["NUL bytes", bytesOf("\u0000a\u0000")],
  ["U+2028 and U+2029", bytesOf("a\u2028b\u2029c")],
  ["a lone CR", bytesOf("a\rb")],
  ["CRLF and a trailing newline", bytesOf("line 1\r\nline 2\n")],
  ["4-byte UTF-8 (emoji)", bytesOf("😀 \u{10ffff}")],
  ["combining marks, not normalised (e + U+0301)", bytesOf("e\u0301")],
  ["the precomposed form (U+00E9)", bytesOf("\u00e9")],
  ["only whitespace", bytesOf(" \t\n")],
];

const INVALID: readonly [string, Uint8Array][] = [
  ["a lone continuation byte", new Uint8Array([0x61, 0x80])],
  ["a BOM then an invalid byte", new Uint8Array([0xef, 0xbb, 0xbf, 0xff])],
  ["a truncated 4-byte sequence", new Uint8Array([0xf0, 0x9f, 0x98])],
  ["an encoded surrogate", new Uint8Array([0xed, 0xb0, 0x80])],
];

const NODE_ENV = { PAXOSKV_MAX_VALUE_BYTES: String(512 * 1024) };

let cluster: LocalCluster;
let redis: AcceptorRedis;
let client: PaxosKvClient;
let nc: NatsConnection;
let learner: NodeProcess;

beforeAll(async () => {
  cluster = await startLocalCluster();
  await Promise.all(["A", "B", "C"].map((id) =>
    cluster.spawnNode(id, "proposer,acceptor", NODE_ENV)));
  learner = await cluster.spawnNode("L", "learner", NODE_ENV);
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 10_000 });
  nc = await connectTo(cluster);
  redis = new AcceptorRedis(cluster);
});

afterAll(() => tearDown(cluster, redis, client, nc));

const subject = (op: string, key: string) => `${cluster.prefix}.${op}.${key}`;

/** A raw NATS request; the reply decoded by the test's own decoder. */
async function request(op: string, key: string, body: Uint8Array = new Uint8Array()):
  Promise<Record<string, unknown>> {
  const msg = await nc.request(subject(op, key), body, { timeout: 10_000 });
  return JSON.parse(exact.decode(msg.data)) as Record<string, unknown>;
}

/** The value field of a reply or event as UTF-8 bytes (hex, for readable diffs). */
function valueHex(reply: Record<string, unknown>): string {
  expect(typeof reply.value).toBe("string");
  return hex(bytesOf(reply.value as string));
}

/**
 * The chosen event of `key` as stored in the stream (in a batch of the chosen log), decoded
 * by the test; the newest messages first (this file's keys are few and recent).
 */
async function storedEvent(key: string): Promise<Record<string, unknown>> {
  const jsm = await jetstreamManager(nc);
  return poll(`the chosen event of ${key}`, async () => {
    const last = (await jsm.streams.info(CHOSEN_STREAM)).state.last_seq;
    for (let seq = last; seq >= Math.max(1, last - 200); seq--) {
      const msg = await jsm.streams.getMessage(CHOSEN_STREAM, { seq });
      if (msg === null) continue;
      const batch = JSON.parse(exact.decode(msg.data)) as { items?: Record<string, unknown>[] };
      const event = batch.items?.find((e) => e.key === key);
      if (event !== undefined) return event;
    }
    return undefined;
  }, { timeoutMs: 10_000, intervalMs: 50 });
}

/** Every acceptor's accepted value of `key` as raw bytes from its Redis (hex). */
async function acceptedHex(key: string): Promise<string[]> {
  const values = await Promise.all(cluster.acceptors.map(async (id) =>
    (await redis.client(id).hgetallBuffer(redis.hashKey(id, key)))["accepted_value"]));
  return values.filter((v) => v !== undefined).map((v) => v.toString("hex"));
}

/** get and replica-get of `key` both answer `expected` (hex), from the learner's replica. */
async function expectReads(key: string, expected: string): Promise<void> {
  const replica = await poll(`${key} in the replica`, async () => {
    const r = await request("replica-get", key);
    return r.found === true ? r : undefined;
  }, { timeoutMs: 10_000, intervalMs: 50 });
  expect(valueHex(replica)).toBe(expected);
  const get = await request("get", key);
  expect(get.found).toBe(true);
  expect(valueHex(get)).toBe(expected);
}

describe("value bytes - raw NATS requests", () => {
  it.each(VALID.map(([name, data], i) => [name, data, `bytes.valid.${i}`] as const))(
    "value bytes - %s: create, the acceptors, the stream, get and replica-get all hold " +
    "exactly the bytes sent", async (_, data, key) => {
      const sent = hex(data);
      const created = await request("create", key, data);
      expect(created).toMatchObject({ ok: true, key, created: true });
      expect(valueHex(created)).toBe(sent);
      // Every acceptor that accepted holds the bytes, and a majority did.
      const accepted = await acceptedHex(key);
      expect(accepted.length).toBeGreaterThanOrEqual(2);
      expect(new Set(accepted)).toEqual(new Set([sent]));
      const event = await storedEvent(key);
      expect(event.key).toBe(key);
      expect(valueHex(event)).toBe(sent);
      await expectReads(key, sent);
      // The same bytes again are this value (created:true); any other bytes are not.
      const again = await request("create", key, data);
      expect(again).toMatchObject({ ok: true, created: true });
      expect(valueHex(again)).toBe(sent);
    });

  it("value bytes - a create of 'abc' after a create of BOM 'abc' is created:false and " +
    "answers the BOM", async () => {
    const key = "bytes.bom.race";
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0x62, 0x63]);
    expect(await request("create", key, withBom)).toMatchObject({ created: true });
    const plain = await request("create", key, bytesOf("abc"));
    expect(plain).toMatchObject({ ok: true, key, created: false });
    expect(valueHex(plain)).toBe("efbbbf616263");
    // And the other order.
    expect(await request("create", "bytes.bom.race2", bytesOf("abc")))
      .toMatchObject({ created: true, value: "abc" });
    const bom = await request("create", "bytes.bom.race2", withBom);
    expect(bom).toMatchObject({ ok: true, created: false });
    expect(valueHex(bom)).toBe("616263");
  });

  it.each(INVALID.map(([name, data], i) => [name, data, `bytes.invalid.${i}`] as const))(
    "value bytes - %s is BAD_REQUEST and stores nothing", async (_, data, key) => {
      const before = await redis.snapshot();
      expect(await request("create", key, data)).toEqual({ ok: false,
        error: { code: "BAD_REQUEST", message: "the value is not valid UTF-8" } });
      await nc.flush();
      expect(await redis.snapshot()).toEqual(before);
      expect(await request("get", key)).toEqual({ ok: true, key, found: false });
    });

  it("value bytes - a learner that restarts re-reads every value from the stream unchanged",
    async () => {
      await learner.stop();
      await learner.start();
      for (const [i, [, data]] of VALID.entries()) await expectReads(`bytes.valid.${i}`, hex(data));
    });

  it("value bytes - a value a crashed proposer left accepted is read back by a quorum read " +
    "(read repair) unchanged", async () => {
    const key = "bytes.orphan";
    const value = "\ufeff\u0000\r😀\u2028";
    for (const id of cluster.acceptors) {
      await redis.writeAccepted(id, key, Date.now(), "A", value);
    }
    const got = await request("get", key);
    expect(got).toMatchObject({ ok: true, key, found: true });
    expect(valueHex(got)).toBe(hex(bytesOf(value)));
  });
});

describe("value bytes - the TypeScript client", () => {
  it.each(VALID.map(([name, data], i) => [name, data, `bytes.client.${i}`] as const))(
    "value bytes - client: %s round-trips as a string", async (_, data, key) => {
      const value = exact.decode(data);
      expect(await client.create(key, value)).toEqual({ key, value, created: true });
      expect(await client.get(key)).toEqual({ key, found: true, value });
      expect(await client.create(key, value.replace(/^\ufeff/, "") + "."))
        .toEqual({ key, value, created: false });
    });

  it("value bytes - client: raw bytes are sent as they are", async () => {
    const key = "bytes.client.raw";
    const data = new Uint8Array([0xef, 0xbb, 0xbf, 0x00, 0x0d]);
    expect(await client.create(key, data)).toEqual(
      { key, value: exact.decode(data), created: true });
    expect(valueHex(await request("get", key))).toBe(hex(data));
  });

  it("value bytes - client: a string with a lone surrogate (not UTF-8) is refused before " +
    "sending, as bytes that are not UTF-8 are refused by the node", async () => {
    await expect(client.create("bytes.client.surrogate", "a\ud800")).rejects.toMatchObject(
      { code: "BAD_REQUEST", message: expect.stringMatching(/lone surrogate/) });
    await expect(client.create("bytes.client.invalid", new Uint8Array([0xff])))
      .rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(await client.get("bytes.client.surrogate")).toEqual(
      { key: "bytes.client.surrogate", found: false });
  });
});

describe("value bytes - the CLI", () => {
  const dir = mkdtempSync(join(tmpdir(), "paxoskv-bytes-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the CLI with `stdin` as its standard input. */
  async function cli(args: string[], stdin: string | Uint8Array = ""):
    Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await cliBytes(args, stdin);
    return { ...out, stdout: exact.decode(out.stdout) };
  }

  /** The same, with stdout as raw bytes. */
  function cliBytes(args: string[], stdin: string | Uint8Array = ""):
    Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(process.execPath, ["--import", "tsx", CLI, ...args],
        { env: { ...process.env, PAXOSKV_NATS_URL: cluster.nats.url,
          PAXOSKV_PREFIX: cluster.prefix }, timeout: 30_000, encoding: "buffer",
        maxBuffer: 4 * 1024 * 1024 },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number(err.code ?? 1),
          stdout: new Uint8Array(stdout), stderr: exact.decode(stderr) }));
      child.stdin?.end(stdin);
    });
  }

  it("value bytes - CLI: a value given as an argument keeps its BOM and CRLF", async () => {
    const value = "\ufeffa\r\nb";
    const out = await cli(["create", "bytes.cli.argv", value]);
    expect(out.stderr).toBe("");
    expect(JSON.parse(out.stdout)).toEqual({ key: "bytes.cli.argv", value, created: true });
    expect(valueHex(await request("get", "bytes.cli.argv"))).toBe(hex(bytesOf(value)));
  });
  it("value bytes - CLI: create --file sends the file's bytes exactly (BOM, CRLF, NUL, " +
    "trailing newline kept)", async () => {
    const data = bytesOf("\ufeffline 1\r\n\u0000😀\nlast\n");
    const file = join(dir, "value.txt");
    writeFileSync(file, data);
    const out = await cli(["create", "bytes.cli.file", "--file", file]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(
      { key: "bytes.cli.file", value: exact.decode(data), created: true });
    expect(valueHex(await request("get", "bytes.cli.file"))).toBe(hex(data));
  });

  it("value bytes - CLI: create <key> - reads the value from stdin, byte for byte", async () => {
    // As the usage says.
    expect((await cli(["help"])).stdout).toMatch(
      /trailing newline is kept \(echo v \| \.\.\. stores\s+"v\\n"; printf %s v does not add one\)/);
    const out = await cli(["create", "bytes.cli.stdin", "-"], "v\n");
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ key: "bytes.cli.stdin", value: "v\n", created: true });
    expect(valueHex(await request("get", "bytes.cli.stdin"))).toBe(hex(bytesOf("v\n")));
    // --file - is stdin too.
    const viaFlag = await cli(["create", "bytes.cli.stdin2", "--file", "-"], "\ufeffw");
    expect(JSON.parse(viaFlag.stdout)).toEqual(
      { key: "bytes.cli.stdin2", value: "\ufeffw", created: true });
  });

  it("value bytes - CLI: a file that is not UTF-8 is BAD_REQUEST and stores nothing",
    async () => {
      const file = join(dir, "latin1.txt");
      writeFileSync(file, new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
      const out = await cli(["create", "bytes.cli.latin1", "--file", file]);
      expect(out.code).toBe(1);
      expect(out.stderr).toMatch(/^paxoskv: BAD_REQUEST: .*not valid UTF-8/);
      expect(await request("get", "bytes.cli.latin1")).toMatchObject({ found: false });
    });

  it("value bytes - CLI: a 200 KB value, too long for a command line, goes in through stdin " +
    "and comes out of get --raw byte for byte", async () => {
    const data = bytesOf(`${"😀 line\r\n".repeat(20_000)}`.slice(0, 200_000));
    const out = await cli(["create", "bytes.cli.big", "-"], data);
    expect(out.stderr).toBe("");
    expect(JSON.parse(out.stdout)).toMatchObject({ key: "bytes.cli.big", created: true });
    const raw = await cliBytes(["get", "bytes.cli.big", "--raw"]);
    expect(raw.code).toBe(0);
    expect(hex(raw.stdout)).toBe(hex(data));
  });

  it("value bytes - CLI: get --raw of a missing key prints nothing and exits 3", async () => {
    const raw = await cliBytes(["get", "bytes.cli.missing", "--raw"]);
    expect(raw).toMatchObject({ code: 3, stdout: new Uint8Array() });
  });

  it.each([
    ["no value", ["create", "bytes.cli.usage"], /create needs a value/],
    ["a value and --file", ["create", "bytes.cli.usage", "v", "--file", "x"], /not two of them/],
    ["- and --file", ["create", "bytes.cli.usage", "-", "--file", "x"], /not two of them/],
    ["two words unquoted", ["create", "bytes.cli.usage", "hello", "world"],
      /one value \(quote/],
    ["--raw on create", ["create", "bytes.cli.usage", "v", "--raw"], /no --raw/],
    ["get with two keys", ["get", "a", "b"], /get takes one key/],
  ])("value bytes - CLI: %s is a usage error (exit 2) that sends nothing", async (_, args, why) => {
    const out = await cli(args);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(why);
    expect(await request("get", "bytes.cli.usage")).toMatchObject({ found: false });
  });

  it("value bytes - CLI: a file that cannot be read is BAD_REQUEST naming it", async () => {
    const out = await cli(["create", "bytes.cli.nofile", "--file", join(dir, "absent")]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^paxoskv: BAD_REQUEST: cannot read the value from .*absent: ENOENT/);
  });

  it("value bytes - CLI: watch <prefix> matches whole tokens (orders, orders.1, not ordersX), " +
    "as its help says", async () => {
    const help = await cli(["help"]);
    expect(help.stdout).toMatch(/"orders" shows\s+orders and orders\.1\.x but not ordersX/);
    const child = spawn(process.execPath, ["--import", "tsx", CLI, "watch", "bytes.w"], {
      env: { ...process.env, PAXOSKV_NATS_URL: cluster.nats.url, PAXOSKV_PREFIX: cluster.prefix },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    try {
      await poll("watch to subscribe", async () => stderr.includes("watching") || undefined,
        { timeoutMs: 20_000, intervalMs: 50 });
      expect(stderr).toBe("watching bytes.w and keys under it, bytes.w.* (whole tokens; " +
        "Ctrl-C stops)\n");
      for (const key of ["bytes.wX", "bytes.w", "bytes.w.1", "bytes.wX.1"]) {
        await client.create(key, "\ufeff1");
      }
      await poll("two events", async () => stdout.split("\n").length > 2 || undefined,
        { timeoutMs: 10_000, intervalMs: 50 });
      await new Promise((resolve) => setTimeout(resolve, 300)); // any wrong event would show
      const keys = stdout.trim().split("\n").map((l) => (JSON.parse(l) as { key: string }).key);
      expect(keys.sort()).toEqual(["bytes.w", "bytes.w.1"]);
      expect((JSON.parse(stdout.split("\n")[0] ?? "") as { value: string }).value).toBe("\ufeff1");
    } finally {
      child.kill("SIGINT");
    }
  });

});

describe("value bytes - quorum reads over NATS (no direct Redis reads)", () => {
  let viaNats: LocalCluster;
  let viaNatsRedis: AcceptorRedis;

  beforeAll(async () => {
    viaNats = await startLocalCluster({ directReads: false, prefix: "bytesnats" });
    const started = await Promise.all(["A", "B", "C"].map((id) => viaNats.spawnNode(id)));
    for (const node of started) expect(node.output()).toContain('"quorumReads":"nats"');
    viaNatsRedis = new AcceptorRedis(viaNats);
  });

  afterAll(async () => {
    viaNatsRedis?.close();
    await viaNats?.stopNodes();
  });

  it("value bytes - a value left accepted is read through the acceptors' processes unchanged",
    async () => {
      const key = "bytes.orphan.nats";
      const value = "\ufeff\u0000\r😀\u2028";
      for (const id of viaNats.acceptors) {
        await viaNatsRedis.writeAccepted(id, key, Date.now(), "A", value);
      }
      // This cluster has its own NATS server.
      const c = await PaxosKvClient.connect({ servers: viaNats.nats.url, prefix: viaNats.prefix,
        timeoutMs: 10_000 });
      try {
        const raw = await c.nc.request(`${viaNats.prefix}.get.${key}`, new Uint8Array(),
          { timeout: 10_000 });
        const got = JSON.parse(exact.decode(raw.data)) as Record<string, unknown>;
        expect(got).toMatchObject({ ok: true, key, found: true });
        expect(valueHex(got)).toBe(hex(bytesOf(value)));
      } finally {
        await c.close();
      }
    });
});
