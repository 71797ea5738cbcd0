/**
 * Reliability (matrix row B7): the disk under one acceptor's Redis fills up. Redis runs with
 * `appendonly yes`, `appendfsync always` and its dir on a 2 MiB tmpfs mounted for this file
 * (needs root); a filler file leaves little room, then Accepts with 8 KiB values run until
 * the AOF cannot grow.
 *
 * What Redis 7 does (observed with 7.0.15): the AOF write comes up short, Redis truncates the
 * partial command off the file, logs "Can't recover from AOF write error when the AOF fsync
 * policy is 'always'. Exiting..." and exits. The write's reply is never sent (replies go out
 * after the AOF write), so the store sees a closed connection, not a success.
 *
 * What must hold: every Accept the store reported `accepted` is in Redis after it restarts
 * from its AOF; every other outcome is a RedisStoreError (no reply), never an exception of
 * another kind nor a crash of this process; a Redis restarted on a still-full disk fails the
 * same way; once space is freed and Redis restarted, the same store serves again.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ballot, type Ballot } from "../../src/core/ballot.js";
import type { MsgAccept } from "../../src/core/messages.js";
import { RedisAcceptorStore, RedisStoreError } from "../../src/adapters/redis/index.js";
import { cleanup, startRedis, type ServerHandle } from "./support/servers.js";

const MOUNT_BYTES = 2 * 1024 * 1024;
/** Room left beside the filler: a few dozen Accepts, so the disk fills within a second. */
const ROOM_BYTES = 256 * 1024;
const VALUE_BYTES = 8 * 1024;
/** Accepts sent at once: several commands in flight when Redis dies (auto-pipelining). */
const CONCURRENT = 4;

let mountPoint: string | undefined;
let mounted = false;
let redis: ServerHandle;
let store: RedisAcceptorStore;
const filler = () => join(mountPoint ?? "", "filler");

const B1: Ballot = ballot(1, "A");
const valueOf = (key: string) => `${key}:`.padEnd(VALUE_BYTES, "x");
const acceptOf = (key: string, n: Ballot = B1): MsgAccept =>
  ({ type: "accept", key, ballot: n, value: valueOf(key) });

/** Keys whose Accept the store reported `accepted`, and keys whose Accept failed. */
const acked: string[] = [];
const failed: string[] = [];

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/** True when something answers on the port (Redis is up), false when refused. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
  });
}

/** Waits until Redis stops answering (it exits on its own), at most `ms`. */
async function waitGone(port: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!(await listening(port))) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/** Waits until the store's connection serves a read again (ioredis reconnects on its own). */
async function waitServing(ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await store.read("probe");
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Sends Accepts; an outcome is `accepted` (checked exact) or a RedisStoreError, nothing else. */
async function acceptAll(keys: readonly string[]): Promise<{ ok: string[]; errors: string[] }> {
  const outcomes = await Promise.allSettled(keys.map((key) => store.accept(acceptOf(key))));
  const ok: string[] = [];
  const errors: string[] = [];
  outcomes.forEach((outcome, i) => {
    const key = keys[i] as string;
    if (outcome.status === "fulfilled") {
      expect(outcome.value).toEqual({ type: "accepted", key, from: "A", ballot: B1 });
      ok.push(key);
    } else {
      expect(outcome.reason).toBeInstanceOf(RedisStoreError);
      expect((outcome.reason as RedisStoreError).code).toBe("UNAVAILABLE");
      errors.push(`${key}: ${(outcome.reason as Error).message}`);
    }
  });
  acked.push(...ok);
  failed.push(...errors.map((e) => e.slice(0, e.indexOf(":"))));
  return { ok, errors };
}

beforeAll(async () => {
  mountPoint = mkdtempSync(join(tmpdir(), "paxoskv-diskfull-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${MOUNT_BYTES},mode=0700`, "tmpfs",
    mountPoint]);
  mounted = true;
  // The last --dir wins: the AOF lives on the small tmpfs (restarts keep the arguments).
  redis = await startRedis({ appendfsync: "always", extraArgs: ["--dir", mountPoint] });
  store = new RedisAcceptorStore({
    acceptorId: "A", url: redis.url, commandTimeoutMs: 2000, onConnectionError: () => undefined,
  });
  store.serveAs(await store.adoptIncarnation("disk-full"));
});

afterAll(async () => {
  await store?.close();
  await cleanup(); // kills Redis first: nothing may hold the mount open
  if (mountPoint === undefined) return;
  if (mounted) {
    try {
      execFileSync("umount", [mountPoint]);
    } catch {
      execFileSync("umount", ["-l", mountPoint]); // busy: detach now, freed when released
    }
  }
  rmSync(mountPoint, { recursive: true, force: true });
});

describe("B7 - disk full under one acceptor's Redis", () => {
  it("B7: the AOF is on the small tmpfs and the store is durable", async () => {
    const fs = statfsSync(mountPoint ?? "");
    expect(fs.blocks * fs.bsize).toBeLessThanOrEqual(MOUNT_BYTES);
    expect(await store.durability()).toMatchObject(
      { appendonly: true, appendfsync: "always", durable: true });
    expect((await acceptAll(["full.first"])).ok).toEqual(["full.first"]);
  });

  it("B7: Accepts until the disk is full: errors, never false success; Redis exits", async () => {
    writeFileSync(filler(), Buffer.alloc(freeBytes(mountPoint ?? "") - ROOM_BYTES));
    let round = 0;
    let firstErrors: string[] = [];
    while (firstErrors.length === 0) {
      expect(round, "the disk never filled").toBeLessThan(4 * ROOM_BYTES / VALUE_BYTES);
      const keys = Array.from({ length: CONCURRENT }, (_, i) => `full.${round}.${i}`);
      firstErrors = (await acceptAll(keys)).errors;
      round++;
    }
    expect(acked.length).toBeGreaterThan(1);
    // Redis 7 with appendfsync always cannot take back a write it could not log: it exits,
    // and the commands in flight see the connection close (no reply, not MISCONF).
    expect(await waitGone(redis.port), "redis-server exited").toBe(true);
    expect(firstErrors.join("\n"))
      .toMatch(/connection close|Connection is closed|ECONNRESET|max retries/i);

    // While it is down, every Accept fails; none is reported accepted.
    const down = await acceptAll(["full.down.0", "full.down.1"]);
    expect(down.ok).toEqual([]);
  });

  it("B7: Redis restarted on the still-full disk keeps what it acked, fails again", async () => {
    await redis.restart();
    await waitServing();
    for (const key of acked) {
      expect((await store.read(key)).accepted, key).toEqual({ ballot: B1, value: valueOf(key) });
    }
    // The failed write was cut off the file, so a little room is back: Accepts succeed until
    // it is gone, then fail the same way.
    let errors: string[] = [];
    for (let i = 0; errors.length === 0; i++) {
      expect(i, "the disk never filled again").toBeLessThan(4 * CONCURRENT);
      errors = (await acceptAll([`full.again.${i}`])).errors;
    }
    expect(await waitGone(redis.port), "redis-server exited again").toBe(true);
  });

  it("B7: space freed, Redis restarted: everything acknowledged is there; it serves", async () => {
    rmSync(filler());
    await redis.restart();
    await waitServing();
    for (const key of acked) {
      expect((await store.read(key)).accepted, key).toEqual({ ballot: B1, value: valueOf(key) });
    }
    // A failed Accept had no reply: absent, or (had it been logged) this very proposal.
    for (const key of failed) {
      const { accepted } = await store.read(key);
      expect(accepted === null || accepted.value === valueOf(key), key).toBe(true);
    }
    // Retrying the failed Accepts is safe and now succeeds; new keys are accepted too.
    const retried = await acceptAll([...new Set(failed)]);
    expect(retried.errors).toEqual([]);
    expect((await acceptAll(["full.after"])).ok).toEqual(["full.after"]);
    expect(await store.prepare({ type: "prepare", key: "full.after", ballot: ballot(2, "B") }))
      .toMatchObject({ type: "promise", accepted: { ballot: B1, value: valueOf("full.after") } });

    // And it is durable: a crash now loses nothing acknowledged.
    await redis.kill("SIGKILL");
    await redis.restart();
    await waitServing();
    for (const key of [...acked, "full.after"]) {
      expect((await store.read(key)).accepted?.value, key).toBe(valueOf(key));
    }
  });
});
