/**
 * The package as a user gets it: the built `paxoskv` command (dist/cli/main.js) and, below,
 * the tarball `npm pack` makes. Builds dist/ once (npm run build).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
/** A Node.js older than "engines" allows: the system one here and in CI (v20). */
const OLD_NODE = process.env.PAXOSKV_OLD_NODE ?? "/usr/bin/node";
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  engines: { node: string };
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
