/**
 * The package as a user gets it: the built `paxoskv` command (dist/cli/main.js) and, below,
 * the tarball `npm pack` makes. Builds dist/ once (npm run build).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/dev/servers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
/** A Node.js older than "engines" allows: the system one here and in CI (v20). */
const OLD_NODE = process.env.PAXOSKV_OLD_NODE ?? "/usr/bin/node";
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  name: string; version: string; private: boolean; engines: { node: string };
};

function majorOf(node: string): number {
  return Number(execFileSync(node, ["-p", "process.versions.node"], { encoding: "utf8" }).split(".")[0]);
}

beforeAll(() => {
  execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: "pipe" });
}, 120_000);

describe("package - the command on the wrong runtime", () => {
  it("package - the entry's minimum is the one package.json's engines names", () => {
    const min = /^>=(\d+)$/.exec(pkg.engines.node)?.[1];
    expect(readFileSync(new URL("../../src/cli/main.ts", import.meta.url), "utf8"))
      .toContain(`var NODE_MAJOR_MIN = ${min};`);
  });

  it("package - on an older Node.js every command exits at once and says how to get Node.js 24", () => {
    const major = majorOf(OLD_NODE);
    expect(major, `${OLD_NODE} must be a Node.js older than 24 (set PAXOSKV_OLD_NODE)`).toBeLessThan(24);
    for (const args of [["create", "X", "3"], ["dev"], ["--help"], []]) {
      const started = Date.now();
      const run = spawnSync(OLD_NODE, [BIN, ...args], { encoding: "utf8", timeout: 10_000 });
      expect(run.status, args.join(" ")).toBe(1);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(run.stdout).toBe("");
      expect(run.stderr).toContain(`paxoskv: WRONG_RUNTIME: paxoskv needs Node.js 24 or later, ` +
        `and this is Node.js ${major}.`);
      for (const way of ["npx -p node@24 paxoskv <command>", "npm start", "docker run --rm paxoskv:local"]) {
        expect(run.stderr).toContain(way);
      }
    }
  });

  it("package - on Node.js 24 the same file runs the CLI", () => {
    const run = spawnSync(process.execPath, [BIN, "--help"], { encoding: "utf8", timeout: 30_000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("usage:");
    expect(run.stderr).not.toContain("WRONG_RUNTIME");
  });
});

/** The new project's code: typed use of the client, run against `npx paxoskv dev`. */
const USE_TS = `import { PaxosKvClient, PaxosKvError, type CreateResult, type GetResult } from "paxoskv";

const kv = await PaxosKvClient.connect({ servers: process.argv[2] ?? "", retries: 3 });
try {
  const first: CreateResult = await kv.create("pkg.X", "3");
  const second: CreateResult = await kv.create("pkg.X", "7");
  const read: GetResult = await kv.get("pkg.X");
  console.log(JSON.stringify({ first, second, read }));
} catch (err) {
  console.log(err instanceof PaxosKvError ? err.code : String(err));
} finally {
  await kv.close();
}
`;
/** A type error the package's types must catch: `created` is a boolean. */
const BAD_TS = `import { PaxosKvClient } from "paxoskv";
const kv = await PaxosKvClient.connect({ servers: "nats://127.0.0.1:4222" });
const created: number = (await kv.create("k", "v")).created;
console.log(created);
`;
const TSCONFIG = JSON.stringify({ compilerOptions: {
  module: "nodenext", target: "es2022", strict: true, noEmit: true, types: ["node"],
} });

describe("package - npm pack, installed in a new project", () => {
  const dir = mkdtempSync(join(tmpdir(), "paxoskv-package-"));
  // The `paxoskv` bin runs on the first `node` in PATH: make it this test's Node.js 24.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` };
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  let files: string[] = [];

  beforeAll(() => {
    // dist/ is built above, so the pack skips its prepack build.
    const packed = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json",
      "--pack-destination", dir], { cwd: ROOT, encoding: "utf8", env })) as
      { filename: string; files: { path: string }[] }[];
    expect(packed[0]?.filename).toBe(`${pkg.name}-${pkg.version}.tgz`);
    files = packed[0]!.files.map((f) => f.path);
    const typesNode = (JSON.parse(readFileSync(join(ROOT, "node_modules/@types/node/package.json"), "utf8")) as
      { version: string }).version;
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    execFileSync("npm", ["install", join(dir, `${pkg.name}-${pkg.version}.tgz`), `@types/node@${typesNode}`,
      "--no-audit", "--no-fund", "--prefer-offline"], { cwd: dir, stdio: "pipe", env });
    writeFileSync(join(dir, "tsconfig.json"), TSCONFIG);
    writeFileSync(join(dir, "use.ts"), USE_TS);
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("package - the tarball holds the built library, its types, the command and the docs, nothing else", () => {
    expect(pkg.private).toBe(true); // docs/package.md says why; npm pack and installs work anyway
    for (const file of ["package.json", "README.md", "dist/index.js", "dist/index.d.ts",
      "dist/cli/main.js", "dist/cli/run.js", "dist/client/client.d.ts", "docs/operations.md"]) {
      expect(files).toContain(file);
    }
    expect(files.filter((f) => !/^(dist\/.*\.(js|d\.ts)|docs\/[\w-]+\.(md|png)|README\.md|package\.json)$/.test(f)))
      .toEqual([]);
    expect(files.filter((f) => /^dist\/(check|demo|sim)\//.test(f))).toEqual([]);
  });

  it("package - an import of it type-checks, and a misuse of a result is a type error", () => {
    execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir, stdio: "pipe" });
    writeFileSync(join(dir, "bad.ts"), BAD_TS);
    try {
      const bad = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir, encoding: "utf8" });
      expect(bad.status).not.toBe(0);
      expect(bad.stdout).toMatch(/bad\.ts\(3,7\): error TS2322: Type 'boolean' is not assignable to type 'number'/);
    } finally {
      rmSync(join(dir, "bad.ts"));
    }
  }, 60_000);

  it("package - npx paxoskv --help runs the installed command", () => {
    const help = spawnSync("npx", ["paxoskv", "--help"], { cwd: dir, encoding: "utf8", env });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("paxoskv create <key> <value>");
  }, 60_000);

  it("package - npx paxoskv dev runs a cluster that the installed client uses", async () => {
    const natsPort = await freePort();
    const httpPort = await freePort();
    // Its own process group, so that the cluster it spawns stops with it.
    const dev = spawn("npx", ["paxoskv", "dev", "--nats-port", String(natsPort), "--http-port", String(httpPort)],
      { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((resolve) => dev.once("exit", resolve));
    let out = "";
    dev.stdout.on("data", (chunk: Buffer) => { out += chunk.toString(); });
    dev.stderr.on("data", (chunk: Buffer) => { out += chunk.toString(); });
    try {
      await expect.poll(() => out, { timeout: 60_000, interval: 200 }).toContain("a local cluster is up");
      const use = spawnSync(process.execPath, ["use.ts", `nats://127.0.0.1:${natsPort}`],
        { cwd: dir, encoding: "utf8", env, timeout: 30_000 });
      expect(use.status, use.stderr).toBe(0);
      expect(JSON.parse(use.stdout)).toEqual({
        first: { key: "pkg.X", value: "3", created: true },
        second: { key: "pkg.X", value: "3", created: false },
        read: { key: "pkg.X", found: true, value: "3" },
      });
    } finally {
      const running = () => dev.exitCode === null && dev.signalCode === null;
      if (running()) process.kill(-dev.pid!, "SIGINT"); // Ctrl-C, as a user stops it
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (running()) process.kill(-dev.pid!, "SIGKILL");
    }
    expect(out).toContain("npx paxoskv create Y hello --nats"); // the hints fit an installed package
    expect(out).toContain("paxoskv dev: stopping");
  }, 120_000);
});
