/**
 * The docker-compose stack, end to end (`npm run test:compose`; not part of `npm test`, which
 * runs where Docker may be missing). Needs a running Docker engine and the images
 * `node:24-bookworm-slim`, `nats:2.15`, `redis:7.2` (where no registry can be reached,
 * `docker/standin-images.sh` builds stand-ins of the node and redis images and
 * docker/standin-nats.sh the NATS one from the pinned release; test/compose/ci.sh runs both),
 * and the pinned `nats` CLI in .deps/bin (`bash scripts/ensure-deps.sh test`).
 *
 * Builds the image, brings the stack up under its own project name on free 127.0.0.1 ports,
 * checks the NATS servers are the version the compose file names, runs the seed's race and a
 * few hundred raced keys through the published NATS ports as the client user, shows the
 * client user refused on `paxoskv.paxos.>` and `$JS.API.>`, stops one node and one Redis
 * (acceptor A entirely) and creates more, restarts everything and checks every key kept its
 * value, scales the read replicas, runs the README's `nats` CLI commands, and tears down with
 * volumes.
 *
 * Env: PAXOSKV_E2E_KEEP=1 leaves the stack up; PAXOSKV_E2E_KEYS (300) raced keys;
 * PAXOSKV_E2E_SKIP_BUILD=1 uses the image as it is.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  connect, PermissionViolationError, type NatsConnection,
} from "@nats-io/transport-node";
import { PaxosKvClient } from "../../src/client/client.js";
import { ErrorCode, PaxosKvError } from "../../src/protocol/codes.js";
import { listAcceptorKeys } from "../../src/node/repair/rebuild.js";
import { NatsCli, replyBody } from "../integration/support/nats-cli.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ARTIFACTS = join(ROOT, "test-artifacts", "compose");
const PROJECT = "paxoskv-e2e";
const IMAGE = process.env.PAXOSKV_IMAGE ?? "paxoskv:local";
const KEY_COUNT = Number(process.env.PAXOSKV_E2E_KEYS ?? 300);
const AFTER_STOP_KEY_COUNT = 100;
const HEALTHY_TIMEOUT_MS = 180_000;
const CLIENT = { user: "client", password: "e2e-client-pw" };
const NODE = { user: "node", password: "e2e-node-pw" };
const READER_PASSWORD = "e2e-reader-pw";

// ---------------------------------------------------------------------------------------
// Processes

interface RunResult { code: number; stdout: string; stderr: string }

/** Runs a command from the repository root; rejects on a non-zero exit unless `allowFail`. */
function run(
  cmd: string, args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFail?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.on("error", (err) => { clearTimeout(timer); reject(err); });
    child.on("close", (code) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr };
      if (result.code !== 0 && options.allowFail !== true) {
        reject(new Error(`${cmd} ${args.join(" ")} exited ${result.code}\n` +
          `${stderr.slice(-3000)}${stdout.slice(-2000)}`));
      } else {
        resolve(result);
      }
    });
  });
}

/** `docker compose` (v2) where it exists, else `docker-compose` (v1, e.g. Debian bookworm). */
async function composeCommand(): Promise<string[]> {
  const v2 = await run("docker", ["compose", "version"], { allowFail: true }).catch(() => null);
  if (v2?.code === 0) return ["docker", "compose"];
  const v1 = await run("docker-compose", ["version"], { allowFail: true }).catch(() => null);
  if (v1?.code === 0) return ["docker-compose"];
  throw new Error("neither `docker compose` nor `docker-compose` works");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------
// The stack

class Stack {
  constructor(
    private readonly compose: readonly string[],
    readonly env: NodeJS.ProcessEnv,
    readonly natsUrls: readonly string[],
  ) {}

  run(args: readonly string[], timeoutMs = 300_000): Promise<RunResult> {
    const [cmd, ...pre] = this.compose;
    return run(cmd ?? "docker-compose", [...pre, "-p", PROJECT, "-f", "docker-compose.yml", ...args],
      { env: this.env, timeoutMs });
  }

  /**
   * Removes the project's containers, volumes and network. Docker sometimes keeps a stale
   * endpoint on the removed containers' network ("has active endpoints", until dockerd
   * restarts): the containers and volumes are gone by then, and the next `up` reuses the
   * network, so that alone is reported and tolerated.
   */
  async down(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.run(["down", "-v", "--remove-orphans"], 180_000);
        return;
      } catch (err) {
        if (!/has active endpoints/.test(String(err))) throw err;
        if (attempt >= 3) {
          console.log(`compose: the network ${PROJECT}_default keeps a stale endpoint ` +
            "(a Docker fault); containers and volumes are removed, the network is reused");
          return;
        }
        await sleep(2000);
      }
    }
  }

  /** Every container of the project: name, service, state and health. */
  async containers(): Promise<{ name: string; service: string; state: string; health: string }[]> {
    const ids = (await run("docker", ["ps", "-aq", "--filter",
      `label=com.docker.compose.project=${PROJECT}`])).stdout.split("\n").filter(Boolean);
    if (ids.length === 0) return [];
    const format = '{{.Name}}|{{index .Config.Labels "com.docker.compose.service"}}|' +
      "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
    const out = (await run("docker", ["inspect", "--format", format, ...ids])).stdout;
    return out.split("\n").filter(Boolean).map((line) => {
      const [name = "", service = "", state = "", health = ""] = line.split("|");
      return { name: name.replace(/^\//, ""), service, state, health };
    });
  }

  /**
   * Waits until each of `services` has a running container and every container with a
   * healthcheck is healthy. Returns the milliseconds it took.
   */
  async waitHealthy(services: readonly string[]): Promise<number> {
    const start = performance.now();
    let last = "";
    while (performance.now() - start < HEALTHY_TIMEOUT_MS) {
      const all = await this.containers();
      last = all.map((c) => `${c.service}:${c.state}/${c.health}`).join(" ");
      const up = services.every((s) => all.some((c) => c.service === s));
      const ok = all.every((c) => c.state === "running" && (c.health === "healthy" || c.health === "none"));
      if (up && ok) return performance.now() - start;
      await sleep(500);
    }
    throw new Error(`stack not healthy after ${HEALTHY_TIMEOUT_MS} ms: ${last}`);
  }

  async saveLogs(name: string): Promise<void> {
    const logs = await this.run(["logs", "--no-color", "--timestamps"]).catch((err: unknown) =>
      ({ stdout: String(err), stderr: "" }));
    writeFileSync(join(ARTIFACTS, name), logs.stdout + logs.stderr);
  }
}

// ---------------------------------------------------------------------------------------
// Checks

let passed = 0;
let failed = 0;

async function check(name: string, body: () => Promise<string | void>): Promise<void> {
  const start = performance.now();
  try {
    const detail = await body();
    passed++;
    console.log(`  ✓ ${name} (${((performance.now() - start) / 1000).toFixed(1)} s)` +
      (detail ? `\n      ${detail.replaceAll("\n", "\n      ")}` : ""));
  } catch (err) {
    failed++;
    console.log(`  ✗ ${name}\n      ${String(err instanceof Error ? err.stack : err)
      .replaceAll("\n", "\n      ")}`);
    throw err;
  }
}

/** The permission violation in `err` (a rejected request wraps it in a RequestError). */
function violationOf(err: unknown): PermissionViolationError | null {
  if (err instanceof PermissionViolationError) return err;
  if (err instanceof Error && err.cause instanceof PermissionViolationError) return err.cause;
  return null;
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** A create, retried while the outcome is unknown or the cluster is busy (always safe). */
async function createRetrying(
  client: PaxosKvClient, key: string, value: string, stats: { retries: number },
): Promise<{ value: string; created: boolean }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.create(key, value);
    } catch (err) {
      const retryable = err instanceof PaxosKvError &&
        (err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.UNAVAILABLE);
      if (!retryable || attempt >= 8) throw err;
      stats.retries++;
      await sleep(100 * attempt);
    }
  }
}

async function getRetrying(client: PaxosKvClient, key: string, replica = false) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.get(key, { replica });
    } catch (err) {
      const retryable = err instanceof PaxosKvError &&
        (err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.UNAVAILABLE);
      if (!retryable || attempt >= 8) throw err;
      await sleep(250 * attempt);
    }
  }
}

/** Runs `work` over `items` with `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++] as T);
  }));
}

function clientOf(url: string): Promise<PaxosKvClient> {
  return PaxosKvClient.connect({ servers: url, ...CLIENT, timeoutMs: 5000 });
}

/** Gets every key through `client` and compares with what the creates answered. */
async function checkAll(client: PaxosKvClient, chosen: ReadonlyMap<string, string>): Promise<void> {
  const wrong: string[] = [];
  await pool([...chosen], 32, async ([key, value]) => {
    const got = await getRetrying(client, key);
    if (!got.found || got.value !== value) {
      wrong.push(`${key}: expected ${value}, got ${JSON.stringify(got)}`);
    }
  });
  assert(wrong.length === 0, `${wrong.length} keys wrong:\n${wrong.slice(0, 10).join("\n")}`);
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const compose = await composeCommand();
  const natsPorts = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PAXOSKV_IMAGE: IMAGE,
    PAXOSKV_NATS_PORT_1: String(natsPorts[0]), PAXOSKV_NATS_PORT_2: String(natsPorts[1]),
    PAXOSKV_NATS_PORT_3: String(natsPorts[2]),
    PAXOSKV_HTTP_PORT_A: String(await freePort()), PAXOSKV_HTTP_PORT_B: String(await freePort()),
    PAXOSKV_HTTP_PORT_C: String(await freePort()),
    PAXOSKV_CLIENT_PASSWORD: CLIENT.password, PAXOSKV_NODE_PASSWORD: NODE.password,
    PAXOSKV_REDIS_PASSWORD: "e2e-redis-pw", PAXOSKV_REDIS_READER_PASSWORD: READER_PASSWORD,
  };
  const stack = new Stack(compose, env, natsPorts.map((p) => `nats://127.0.0.1:${p}`));
  const [url1 = "", url2 = "", url3 = ""] = stack.natsUrls;
  const services = (await stack.run(["config", "--services"])).stdout.split("\n").filter(Boolean);
  console.log(`compose: ${compose.join(" ")}, project ${PROJECT}, NATS on ${natsPorts.join(", ")}`);

  const summary: string[] = [];
  const chosen = new Map<string, string>();
  const stats = { retries: 0 };
  const clients: PaxosKvClient[] = [];
  const closeClients = async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
  };

  await stack.down();
  try {
    await check("build the image", async () => {
      if (process.env.PAXOSKV_E2E_SKIP_BUILD === "1") return "skipped (PAXOSKV_E2E_SKIP_BUILD=1)";
      const buildx = await run("docker", ["buildx", "version"], { allowFail: true })
        .catch(() => null);
      const start = performance.now();
      const build = await run("docker", ["build", "-f", "docker/Dockerfile", "-t", IMAGE, "."], {
        env: { ...process.env, ...(buildx?.code === 0 ? {} : { DOCKER_BUILDKIT: "0" }) },
        timeoutMs: 900_000,
      });
      writeFileSync(join(ARTIFACTS, "build.log"), build.stdout + build.stderr);
      const size = (await run("docker", ["image", "inspect", IMAGE, "--format", "{{.Size}}"]))
        .stdout.trim();
      const line = `${IMAGE} built in ${((performance.now() - start) / 1000).toFixed(1)} s, ` +
        `${(Number(size) / 1e6).toFixed(0)} MB`;
      summary.push(line);
      return line;
    });

    await check(`up -d: every service healthy (${services.join(", ")})`, async () => {
      const start = performance.now();
      await stack.run(["up", "-d", "--no-build"]);
      const upMs = performance.now() - start;
      await stack.waitHealthy(services);
      const line = `up → all healthy in ${((performance.now() - start) / 1000).toFixed(1)} s ` +
        `(the up command itself ${(upMs / 1000).toFixed(1)} s)`;
      summary.push(line);
      return line;
    });

    await check("the NATS servers are the version the compose file names", async () => {
      const tag = /image: nats:(\d+\.\d+)\b/.exec(readFileSync(join(ROOT, "docker-compose.yml"),
        "utf8"))?.[1];
      assert(tag, "docker-compose.yml names a nats:X.Y image");
      const versions = [];
      for (const url of stack.natsUrls) {
        const nc = await connect({ servers: url, user: CLIENT.user, pass: CLIENT.password });
        versions.push(nc.info?.version ?? "?");
        await nc.close();
      }
      assert(versions.every((v) => v.startsWith(`${tag}.`)),
        `nats:${tag} in docker-compose.yml, servers report ${versions.join(", ")}`);
      const line = `nats:${tag}: nats-server ${versions.join(", ")}`;
      summary.push(line);
      return line;
    });

    await check("the seed race: X=3 and X=7 from two clients on two NATS servers", async () => {
      const [c1, c2] = await Promise.all([clientOf(url1), clientOf(url2)]);
      clients.push(c1, c2);
      const [r1, r2] = await Promise.all([
        createRetrying(c1, "X", "3", stats), createRetrying(c2, "X", "7", stats)]);
      assert(r1.value === r2.value, `clients disagree: ${r1.value} vs ${r2.value}`);
      assert(r1.created !== r2.created, `exactly one create wins: ${JSON.stringify([r1, r2])}`);
      chosen.set("X", r1.value);
      return `client 1 → ${JSON.stringify(r1)}\nclient 2 → ${JSON.stringify(r2)}`;
    });

    await check(`${KEY_COUNT} keys, each raced by two clients; chosen events; get and replica-get`,
      async () => {
        const [c1, c2, c3] = [...clients, await clientOf(url3)];
        assert(c1 && c2 && c3, "clients");
        clients.push(c3);
        const events = new Map<string, string>();
        const watching = new AbortController();
        const watch = (async () => {
          for await (const e of c3.watch("race", watching.signal)) events.set(e.key, e.value);
        })();
        await c3.nc.flush();
        const keys = Array.from({ length: KEY_COUNT }, (_, i) => `race.k${i}`);
        const start = performance.now();
        let wins1 = 0;
        await pool(keys, 16, async (key) => {
          const [r1, r2] = await Promise.all([
            createRetrying(c1, key, `one-${key}`, stats),
            createRetrying(c2, key, `two-${key}`, stats)]);
          assert(r1.value === r2.value, `${key}: clients disagree: ${r1.value} vs ${r2.value}`);
          assert(r1.created !== r2.created, `${key}: exactly one create wins`);
          if (r1.created) wins1++;
          chosen.set(key, r1.value);
        });
        const raceMs = performance.now() - start;
        await checkAll(c3, new Map([...chosen].filter(([k]) => k.startsWith("race."))));
        let replicaHits = 0;
        for (const key of keys.slice(0, 50)) {
          const got = await getRetrying(c2, key, true);
          if (got.found) {
            replicaHits++;
            assert(got.value === chosen.get(key), `${key}: replica-get ${got.value}`);
          }
        }
        const deadline = Date.now() + 10_000;
        while (events.size < KEY_COUNT && Date.now() < deadline) await sleep(100);
        watching.abort();
        await watch;
        assert(events.size === KEY_COUNT, `chosen events: ${events.size} of ${KEY_COUNT}`);
        for (const [key, value] of events) {
          assert(chosen.get(key) === value, `${key}: event ${value} vs ${chosen.get(key)}`);
        }
        // A miss is confirmed by the nodes' direct quorum reads, as the read-only Redis user.
        const absent = await getRetrying(c1, "never.created");
        assert(!absent.found, "a key never created is not found");
        return `${KEY_COUNT * 2} creates in ${(raceMs / 1000).toFixed(1)} s; client 1 won ` +
          `${wins1}, client 2 won ${KEY_COUNT - wins1}; ${stats.retries} retried; ` +
          `${events.size} chosen events on paxoskv.chosen.>; ${replicaHits}/50 replica-get hits`;
      });

    await check("the Redis user of quorum reads reads an acceptor's state and cannot write it",
      async () => {
        const asReader = (...command: string[]) => stack.run(["exec", "-T", "redis-a",
          "redis-cli", "--no-auth-warning", "--user", "reader", "--pass", READER_PASSWORD,
          ...command]).catch((err: unknown) => ({ stdout: String(err), stderr: "" }));
        const marker = (await asReader("GET", "paxoskv:acc:A:~incarnation")).stdout.trim();
        assert(/^[\w-]{8,}$/.test(marker), `reader GET of A's incarnation marker: ${marker}`);
        const outputs = [];
        for (const command of [["HSET", "paxoskv:acc:A:race.k0", "accepted_value", "forged"],
          ["EVAL", "return redis.call('DEL', KEYS[1])", "1", "paxoskv:acc:A:race.k0"],
          ["FLUSHALL"]]) {
          const out = await asReader(...command);
          const text = out.stdout + out.stderr;
          assert(/NOPERM|no permissions|can.t run this command/i.test(text),
            `reader ${command[0]}: ${text}`);
          outputs.push(`${command[0]}: refused`);
        }
        return `marker ${marker.slice(0, 8)}…; ${outputs.join(", ")}`;
      });

    await check("the client user is refused on paxoskv.paxos.> and $JS.API.>", async () => {
      const nc = await connect({ servers: url1, user: CLIENT.user, pass: CLIENT.password });
      const lines: string[] = [];
      try {
        const statusErrors: Error[] = [];
        void (async () => {
          for await (const s of nc.status()) if (s.type === "error") statusErrors.push(s.error);
        })();
        // The server reports a refused publish asynchronously, as a status event.
        const refusal = async (subject: string) => {
          const deadline = Date.now() + 5000;
          for (;;) {
            const found = statusErrors.map(violationOf).find((v) => v?.subject === subject);
            if (found) return found;
            assert(Date.now() < deadline, `no permission violation reported for ${subject}`);
            await sleep(50);
          }
        };
        // A forged Prepare: publish refused by the server.
        nc.publish("paxoskv.paxos.prepare", JSON.stringify({ forged: true }));
        const pubErr = await refusal("paxoskv.paxos.prepare");
        assert(pubErr.operation === "publish", "a publish violation");
        lines.push(`publish paxoskv.paxos.prepare → ${pubErr.message}`);
        // A request to an acceptor (list its keys): refused, while the node user is answered.
        const reqErr = await nc.request("paxoskv.paxos.list.A", "", { timeout: 3000 })
          .then(() => null, (err: unknown) => err);
        const reqViolation = violationOf(reqErr);
        assert(reqViolation, `expected a permission violation, got ${String(reqErr)}`);
        lines.push(`request paxoskv.paxos.list.A → ${reqViolation.message}`);
        // Listening to the Paxos traffic (or forging replies to proposers) is refused too.
        const sub = nc.subscribe("paxoskv.paxos.>");
        const subErr = await Promise.race([sub.closed, sleep(5000).then(() => "still open")]);
        const subViolation = violationOf(subErr);
        assert(subViolation?.operation === "subscription",
          `expected a subscription violation, got ${String(subErr)}`);
        lines.push(`subscribe paxoskv.paxos.> → ${subViolation.message}`);
        // The JetStream API: no deleting or rewriting the chosen stream.
        const jsErr = await nc.request("$JS.API.STREAM.DELETE.PAXOSKV_CHOSEN", "",
          { timeout: 3000 }).then(() => null, (err: unknown) => err);
        const jsViolation = violationOf(jsErr);
        assert(jsViolation, `expected a permission violation, got ${String(jsErr)}`);
        lines.push(`request $JS.API.STREAM.DELETE.PAXOSKV_CHOSEN → ${jsViolation.message}`);
        // Forging a chosen event: refused.
        nc.publish("paxoskv.chosen.X", JSON.stringify({ key: "X", value: "forged" }));
        lines.push(`publish paxoskv.chosen.X → ${(await refusal("paxoskv.chosen.X")).message}`);
        assert(!nc.isClosed(), "the client stays connected after the violations");
      } finally {
        await nc.close();
      }
      // Control: the node user may do what the client may not.
      const node: NatsConnection = await connect({ servers: url1, user: NODE.user, pass: NODE.password });
      try {
        const keys = await listAcceptorKeys(node, "paxoskv", "A", 5000);
        assert(keys.length >= KEY_COUNT, `acceptor A lists ${keys.length} keys`);
        lines.push(`control: the node user lists acceptor A's keys (${keys.length})`);
      } finally {
        await node.close();
      }
      const bad = await connect({ servers: url1, user: CLIENT.user, pass: "wrong" })
        .then(async (nc) => { await nc.close(); return null; }, (err: unknown) => err);
      assert(bad instanceof Error, "a wrong password is refused");
      lines.push(`a wrong password → ${bad.message}`);
      return lines.join("\n");
    });

    await check("stop node a and redis-a (acceptor A): creates and gets still succeed", async () => {
      await stack.run(["stop", "a", "redis-a"]);
      const [c1, c2, c3] = clients;
      assert(c1 && c2 && c3, "clients");
      const keys = Array.from({ length: AFTER_STOP_KEY_COUNT }, (_, i) => `after-stop.k${i}`);
      const before = stats.retries;
      await pool(keys, 16, async (key) => {
        const [r1, r2] = await Promise.all([
          createRetrying(c1, key, `one-${key}`, stats),
          createRetrying(c2, key, `two-${key}`, stats)]);
        assert(r1.value === r2.value, `${key}: clients disagree`);
        chosen.set(key, r1.value);
      });
      await checkAll(c3, chosen);
      await stack.run(["start", "redis-a", "a"]);
      const ms = await stack.waitHealthy(services);
      return `${AFTER_STOP_KEY_COUNT} raced keys created with A down ` +
        `(${stats.retries - before} retried); all ${chosen.size} keys read back; ` +
        `A back and healthy in ${(ms / 1000).toFixed(1)} s`;
    });

    await check("restart everything: every key kept its value", async () => {
      await closeClients();
      const start = performance.now();
      await stack.run(["restart"]);
      await stack.waitHealthy(services);
      const line = `restart → all healthy in ${((performance.now() - start) / 1000).toFixed(1)} s`;
      summary.push(line);
      const c = await clientOf(url2);
      clients.push(c);
      await checkAll(c, chosen);
      const loser = chosen.get("X") === "3" ? "7" : "3";
      const again = await createRetrying(c, "X", loser, stats);
      assert(again.value === chosen.get("X") && !again.created,
        `X keeps its value: create X=${loser} → ${JSON.stringify(again)}`);
      return `${line}; ${chosen.size} keys read back (linearizable get), X=${again.value}`;
    });

    await check("a fenced acceptor (B's Redis wiped) leaves node b serving and healthy; " +
      "status, /votingz and metrics say B does not vote", async () => {
      await stack.run(["exec", "-T", "redis-b", "redis-cli", "FLUSHALL"]);
      const c = clients[0];
      assert(c, "client");
      const http = (path: string) =>
        fetch(`http://127.0.0.1:${env.PAXOSKV_HTTP_PORT_B ?? ""}${path}`).catch(() => null);
      const deadline = Date.now() + 30_000;
      let voting = await http("/votingz");
      for (let i = 0; voting?.status !== 503 && Date.now() < deadline; i++) {
        // Paxos traffic reaches B's scripts, which find its marker gone: B stops voting.
        await createRetrying(c, `fenced.${i}`, "v", stats);
        voting = await http("/votingz");
      }
      assert(voting?.status === 503, `b's /votingz: ${voting?.status ?? "no answer"}`);
      const ready = await http("/readyz");
      assert(ready?.status === 200, `b's /readyz while B is fenced: ${ready?.status ?? "none"}`);
      await stack.waitHealthy(services);
      // Every node hears B's beat say so (sent at once when its state changes).
      let status = { stdout: "" };
      for (let i = 0; i < 10 && !/"B":\s*"not-voting"/.test(status.stdout); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 1000));
        status = await stack.run(["exec", "-T", "a", "paxoskv", "status", "--json"])
          .catch((err: unknown) => ({ stdout: String(err), stderr: "" }));
      }
      assert(/"B":\s*"not-voting"/.test(status.stdout), `paxoskv status: ${status.stdout}`);
      const metrics = await (await fetch(
        `http://127.0.0.1:${env.PAXOSKV_HTTP_PORT_A ?? ""}/metrics`)).text();
      assert(/paxoskv_acceptor_voting\{[^}]*acceptor="B"[^}]*\} 0/.test(metrics),
        "a's metrics: paxoskv_acceptor_voting{acceptor=B} 0");
      return "B fenced: b's /votingz 503, /readyz 200 (healthy); paxoskv status and a's " +
        "metrics show B not voting";
    });

    await check("scale the read replicas: up -d --scale replica=2", async () => {
      await stack.run(["up", "-d", "--no-build", "--scale", "replica=2"]);
      await stack.waitHealthy(services);
      const c = clients[0];
      assert(c, "client");
      const learners = new Set<string>();
      const deadline = Date.now() + 10_000;
      while (learners.size < 2 && Date.now() < deadline) {
        for await (const msg of await c.nc.requestMany("$SRV.PING.paxoskv", "",
          { strategy: "timer", maxWait: 1000 })) {
          const info = msg.json<{ metadata?: { node?: string; roles?: string } }>();
          if (info.metadata?.roles === "learner" && info.metadata.node) {
            learners.add(info.metadata.node);
          }
        }
      }
      assert(learners.size === 2, `learner-only services answering: ${[...learners].join(", ")}`);
      return `learner-only nodes: ${[...learners].join(", ")}`;
    });

    await check("paxoskv acceptor rejoin B: B votes again", async () => {
      const out = await stack.run(["exec", "-T", "a", "paxoskv", "acceptor", "rejoin", "B"]);
      assert(/"ok":\s*true/.test(out.stdout), `rejoin B: ${out.stdout}${out.stderr}`);
      const deadline = Date.now() + 20_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await fetch(`http://127.0.0.1:${env.PAXOSKV_HTTP_PORT_B ?? ""}/votingz`)
          .catch(() => null))?.status ?? 0;
        if (status !== 200) await new Promise((r) => setTimeout(r, 500));
      }
      assert(status === 200, `b's /votingz after the rejoin: ${status}`);
      const c = clients[0];
      assert(c, "client");
      await checkAll(c, chosen);
      return `B rejoined (${out.stdout.trim().slice(0, 120)}); every key reads back`;
    });

    await check("rolling upgrade under load: nodes a, b, c recreated one at a time, " +
      "each voting again before the next; 0 failed creates", async () => {
      const c = await PaxosKvClient.connect({ servers: [url1, url2, url3], ...CLIENT,
        timeoutMs: 5000, retries: 6 });
      clients.push(c);
      let loading = true;
      let created = 0;
      const failures: string[] = [];
      const load = Promise.all(Array.from({ length: 4 }, async (_, worker) => {
        for (let i = 0; loading; i++) {
          const key = `roll.${worker}.${i}`;
          try {
            const r = await c.create(key, "v");
            if (r.value !== "v") failures.push(`${key}: ${r.value}`);
            chosen.set(key, r.value);
            created++;
          } catch (err) {
            failures.push(`${key}: ${String(err)}`);
          }
        }
      }));
      const start = performance.now();
      for (const [node, port] of [["a", env.PAXOSKV_HTTP_PORT_A], ["b", env.PAXOSKV_HTTP_PORT_B],
        ["c", env.PAXOSKV_HTTP_PORT_C]] as const) {
        await stack.run(["up", "-d", "--no-deps", "--no-build", "--force-recreate", node]);
        await stack.waitHealthy(services);
        const deadline = Date.now() + 60_000;
        let voting = 0;
        while (voting !== 200 && Date.now() < deadline) {
          voting = (await fetch(`http://127.0.0.1:${port ?? ""}/votingz`).catch(() => null))
            ?.status ?? 0;
          if (voting !== 200) await sleep(250);
        }
        assert(voting === 200, `${node}'s acceptor did not vote again: /votingz ${voting}`);
      }
      loading = false;
      await load;
      assert(failures.length === 0, `${failures.length} failed creates during the roll: ` +
        failures.slice(0, 5).join("; "));
      await checkAll(c, chosen);
      const line = `rolling upgrade: ${created} creates during ` +
        `${((performance.now() - start) / 1000).toFixed(1)} s, 0 failed`;
      summary.push(line);
      return line;
    });

    await check("the README's `nats` CLI commands, as the client user", async () => {
      const cli = new NatsCli();
      const lines: string[] = [];
      const nats = async (...args: string[]) => {
        const result = await cli.run(args);
        lines.push(`$ nats ${args.join(" ")}\n${(result.stdout + result.stderr).trim()}`);
        return result;
      };
      try {
        const saved = await nats("context", "save", "paxoskv", "--server", url1,
          "--user", CLIENT.user, "--password", CLIENT.password, "--select");
        assert(/Connection: OK/.test(saved.stdout), "context save connects");
        const sub = cli.start(["sub", "paxoskv.chosen.>", "--count", "1"]);
        try {
          await sub.waitFor(/Subscribing on paxoskv\.chosen\.>/);
          // Two shells at the same time, the second through another NATS server.
          const [r1, r2] = (await Promise.all([
            nats("req", "paxoskv.create.cli.X", "3"),
            nats("req", "paxoskv.create.cli.X", "7", "--server", url2),
          ])).map((r) => JSON.parse(replyBody(r)) as { value: string; created: boolean });
          assert(r1 && r2 && r1.value === r2.value && r1.created !== r2.created,
            `one create wins: ${JSON.stringify([r1, r2])}`);
          const event = await sub.exited();
          assert(event.stdout.startsWith('[#1] Received on "paxoskv.chosen.cli.X"\n') &&
            event.stdout.includes(`{"key":"cli.X","value":"${r1.value}","ballot":`),
          `nats sub printed:\n${event.stdout}`);
          lines.push(`$ nats sub 'paxoskv.chosen.>' --count 1\n${event.stdout.trim()}`);
          const got = replyBody(await nats("req", "paxoskv.get.cli.X", ""));
          assert(got === `{"ok":true,"key":"cli.X","found":true,"value":"${r1.value}"}`, got);
          let replica = "";
          for (const deadline = Date.now() + 10_000; !replica.includes('"found":true') &&
            Date.now() < deadline;) {
            replica = replyBody(await cli.run(["req", "paxoskv.replica-get.cli.X", ""]));
          }
          assert(replica === `{"ok":true,"key":"cli.X","found":true,"value":"${r1.value}"}`,
            replica);
        } finally {
          sub.kill();
        }
        // Nodes a, b, c and the two replicas: one instance each.
        const ls = await nats("micro", "ls", "--json");
        const nodes = (JSON.parse(ls.stdout) as { metadata: { node: string } }[])
          .map((i) => i.metadata.node).sort();
        assert(nodes.length === 5 && nodes.slice(0, 3).join() === "A,B,C" &&
          nodes.slice(3).every((n) => n.startsWith("replica-")), `micro ls: ${nodes.join(", ")}`);
        await nats("micro", "ls");
        const pub = await nats("pub", "paxoskv.paxos.prepare", "x");
        assert(pub.code === 1 && pub.stderr.includes(
          'Permissions Violation for Publish to "paxoskv.paxos.prepare"'), "pub refused");
        writeFileSync(join(ARTIFACTS, "nats-cli.log"), `${lines.join("\n\n")}\n`);
        return `micro ls: ${nodes.join(", ")}; transcript in nats-cli.log`;
      } finally {
        cli.remove();
      }
    });
  } catch {
    // Reported by check(); the logs say why.
  } finally {
    await closeClients();
    await stack.saveLogs("stack.log");
    if (process.env.PAXOSKV_E2E_KEEP === "1") {
      console.log(`PAXOSKV_E2E_KEEP=1: stack left up (${compose.join(" ")} -p ${PROJECT} down -v)`);
    } else {
      await stack.down().catch((err: unknown) => console.log(`teardown failed: ${String(err)}`));
    }
  }
  console.log(`\n${summary.join("\n")}\nlogs: ${join("test-artifacts", "compose")}`);
  console.log(`compose: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error("test:compose:", err);
  console.log(`compose: ${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
