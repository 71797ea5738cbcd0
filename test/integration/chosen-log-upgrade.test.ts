/**
 * A rolling upgrade from the version before the chosen log (one JetStream message per key
 * under `paxoskv.chosen.<key>`, commit OLD_VERSION, run from its own source) to this one, on
 * one cluster of nodes A, B, C with every role, one node at a time (docs/operations.md,
 * "Upgrading to the chosen log"). The first new node updates the stream in place; the old
 * nodes' announcements made after that reach no stream, and the repair of the new acceptor
 * nodes announces them; `get` answers every key throughout; an old node restarted in the
 * middle of the roll sets the old form back and a new node's repair restores the log form;
 * a new learner started from nothing reads both forms. In the end every key is on the log.
 */
import { spawn, type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster, type NodeProcess } from "../../src/dev/cluster.js";
import { CHOSEN_STREAM } from "../../src/protocol/subjects.js";
import { connectTo, mapLimit, poll, readChosenLog } from "./support/cluster-tools.js";
import { cleanup } from "./support/servers.js";

/** The last commit whose chosen stream held one message per key (on main before the log). */
const OLD_VERSION = "ebc7464c5f84ecee60e1299851b0eaad5c8c311b";
const REPO = new URL("../..", import.meta.url).pathname;

let cluster: LocalCluster;
let client: PaxosKvClient;
let nc: NatsConnection;
let oldTree: string;
const chosen = new Map<string, string>();

/** A node of the old version: its own source tree, this checkout's node_modules. */
class OldNode {
  #child: ChildProcess | null = null;
  #output = "";

  constructor(readonly id: string, readonly env: Record<string, string>) {}

  output(): string {
    return this.#output;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath,
      ["--import", "tsx", join(oldTree, "src/cli/main.ts"), "node"], {
        cwd: oldTree, env: { ...process.env, ...this.env },
        stdio: ["ignore", "pipe", "pipe", "ipc"],
      });
    this.#child = child;
    const collect = (data: Buffer) => { this.#output += data.toString(); };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`old node ${this.id} exited with ${code}:\n` +
        this.#output.slice(-3000))));
    });
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    this.#child = null;
  }
}

const oldNodes = new Map<string, OldNode>();
const newNodes = new Map<string, NodeProcess>();

beforeAll(async () => {
  oldTree = mkdtempSync(join(tmpdir(), "paxoskv-old-"));
  const archive = execFileSync("git", ["-C", REPO, "archive", OLD_VERSION, "src", "package.json",
    "tsconfig.json"], { maxBuffer: 64 * 1024 * 1024 });
  execFileSync("tar", ["-x", "-C", oldTree], { input: archive });
  symlinkSync(join(REPO, "node_modules"), join(oldTree, "node_modules"));
  cluster = await startLocalCluster();
  for (const id of ["A", "B", "C"]) oldNodes.set(id, new OldNode(id, cluster.nodeEnv(id)));
  await Promise.all([...oldNodes.values()].map((n) => n.start()));
  await cluster.waitAcceptorsVoting();
  client = await PaxosKvClient.connect({ servers: cluster.nats.url, timeoutMs: 20_000 });
  nc = await connectTo(cluster);
}, 120_000);

afterAll(async () => {
  await client?.close();
  await nc?.close();
  await Promise.allSettled([...oldNodes.values()].map((n) => n.stop()));
  await cluster?.stopNodes();
  await cleanup();
  if (oldTree !== undefined) rmSync(oldTree, { recursive: true, force: true });
});

async function createAll(name: string, count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, (_, i) => `${name}.${i}`);
  await mapLimit(keys, 50, async (key) => {
    const value = `${name}-value-${key}`;
    expect(await client.create(key, value)).toEqual({ key, value, created: true });
    chosen.set(key, value);
  });
  return keys;
}

/** Every key of `keys` answered by a linearizable get with its chosen value. */
async function expectGets(keys: readonly string[]): Promise<void> {
  const replies = await mapLimit(keys, 50, (key) => client.get(key));
  expect(replies.filter((r, i) => !r.found || r.value !== chosen.get(keys[i] ?? "")))
    .toEqual([]);
}

async function streamConfig(): Promise<{ subjects: string[]; perSubject: number }> {
  const info = await (await jetstreamManager(nc)).streams.info(CHOSEN_STREAM);
  return { subjects: info.config.subjects, perSubject: info.config.max_msgs_per_subject };
}

/** Replaces old node `id` by a new one on the same data directory (its replica kept). */
async function roll(id: string): Promise<NodeProcess> {
  const old = oldNodes.get(id) as OldNode;
  await old.stop();
  oldNodes.delete(id);
  const node = await cluster.spawnNode(id, undefined,
    { PAXOSKV_DATA_DIR: old.env.PAXOSKV_DATA_DIR ?? "" });
  newNodes.set(id, node);
  return node;
}

it("upgrade - a roll from one message per key to the log, one node at a time, loses no key",
  async () => {
    const before = await createAll("before", 200);
    expect(await streamConfig()).toEqual({ subjects: ["paxoskv.chosen.>"], perSubject: 1 });

    // The first new node updates the stream in place.
    const a = await roll("A");
    expect(a.output()).toContain("updated the chosen stream to the log form");
    expect(await streamConfig()).toEqual({ subjects: ["paxoskv.log.>"], perSubject: -1 });
    // Creates land on old B and C too (one queue group): their announcements reach no stream.
    const during = await createAll("during", 200);
    await expectGets([...before, ...during]);
    // New A's acceptor accepted them all: its repair announces those it did not see on the log.
    await poll("the keys created during the roll on the log", async () => {
      const now = await readChosenLog(nc, cluster.prefix);
      return during.every((k) => now.events.has(k)) ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    // (A node's output keeps its last 20,000 characters: a cut first line is skipped.)
    const repairedByA = a.output().split("\n")
      .flatMap((l) => /"key":"([^"]*)".*"msg":"announced a chosen value found by repair"/
        .exec(l)?.[1] ?? []);
    expect(repairedByA.filter((k) => k.startsWith("during.")).length).toBeGreaterThan(0);
    // Also, perhaps, a key old A accepted just before it stopped and had not yet marked as
    // seen on the stream: announced again from its replica (a duplicate, harmless).
    expect(repairedByA.filter((k) => !/^(during|before)\./.test(k))).toEqual([]);

    // An old node restarted now sets the old form back; a new node's repair restores it.
    const c = oldNodes.get("C") as OldNode;
    await c.stop();
    await c.start();
    expect(await streamConfig()).toEqual({ subjects: ["paxoskv.chosen.>"], perSubject: 1 });
    await poll("the log form back", async () =>
      (await streamConfig()).subjects[0] === "paxoskv.log.>" ? true : undefined,
    { timeoutMs: 25_000, intervalMs: 250 });
    const reverted = await createAll("reverted", 50);
    await expectGets(reverted);

    await roll("B");
    await roll("C");
    const after = await createAll("after", 200);

    // Every key reaches the log: the old ones as they were, the rest in batches, the old
    // nodes' lost announcements re-announced by the new acceptors' repair.
    const log = await poll("every key on the log", async () => {
      const now = await readChosenLog(nc, cluster.prefix);
      return [...chosen.keys()].every((k) => now.events.has(k)) ? now : undefined;
    }, { timeoutMs: 40_000, intervalMs: 500 });
    for (const [key, value] of chosen) {
      expect(new Set(log.events.get(key)?.map((e) => e.value)), key).toEqual(new Set([value]));
    }
    // The per-key messages of the old form stay in the stream, readable.
    expect(Object.keys(log.subjects).filter((s) => s.startsWith("paxoskv.chosen.before.")))
      .toHaveLength(before.length);
    expect(Object.keys(log.subjects).filter((s) => s.startsWith("paxoskv.log.")).sort())
      .toEqual(expect.arrayContaining(["paxoskv.log.A", "paxoskv.log.B", "paxoskv.log.C"]));

    // A new learner from nothing reads both forms and holds every key.
    await Promise.all([...newNodes.values()].map((n) => n.stop()));
    const learner = await cluster.spawnNode("L", "learner");
    await expectGets([...chosen.keys()]);
    await poll("L's replica to hold every key", async () => {
      const replies = await mapLimit([...chosen.keys()], 100,
        (key) => client.get(key, { replica: true }));
      return replies.every((r) => r.found && r.value === chosen.get(r.key)) ? true : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500 });
    expect(learner.output()).not.toContain("malformed");
    expect(before.length + during.length + reverted.length + after.length).toBe(chosen.size);
  }, 240_000);
