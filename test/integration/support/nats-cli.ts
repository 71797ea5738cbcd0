/**
 * The real `nats` CLI (natscli, pinned in scripts/ensure-deps.sh, built into .deps/bin) run
 * as a user would, with a HOME and XDG_CONFIG_HOME of its own: `nats context save` writes
 * there, never into the user's config, and no NATS_* variable of the caller leaks in.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PINNED_BIN_DIR } from "../../../src/dev/servers.js";

export const NATS_CLI = join(PINNED_BIN_DIR, "nats");

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running `nats` command (e.g. `nats sub`), read while it runs. */
export interface CliProcess {
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves once stderr or stdout matches (rejects at the timeout, with what it printed). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Its exit (rejects at the timeout, after a SIGKILL). */
  exited(timeoutMs?: number): Promise<CliResult>;
  kill(): void;
}

export class NatsCli {
  readonly home = mkdtempSync(join(tmpdir(), "paxoskv-nats-cli-"));
  readonly configDir = join(this.home, ".config");

  constructor() {
    try {
      accessSync(NATS_CLI, constants.X_OK);
    } catch {
      throw new Error(`${NATS_CLI} is missing: the pinned nats CLI is built by ` +
        "`bash scripts/ensure-deps.sh test` (needs Go)");
    }
  }

  get env(): NodeJS.ProcessEnv {
    return { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: this.home,
      XDG_CONFIG_HOME: this.configDir };
  }

  start(args: readonly string[]): CliProcess {
    const child = spawn(NATS_CLI, args, { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const listeners = new Set<() => void>();
    const changed = () => { for (const l of listeners) l(); };
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString("utf8"); changed(); });
    child.stderr.on("data", (d: Buffer) => { stderr += d.toString("utf8"); changed(); });
    let done = false;
    const exit = new Promise<number>((resolve) => {
      child.once("close", (code, signal) => {
        done = true;
        changed();
        resolve(code ?? (signal === null ? -1 : 128));
      });
      child.once("error", () => resolve(-1));
    });
    const printed = () => `nats ${args.join(" ")} printed:\n${stdout}\n--- stderr:\n${stderr}`;
    return {
      stdout: () => stdout,
      stderr: () => stderr,
      waitFor: (pattern, timeoutMs = 10_000) => new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout) || pattern.test(stderr)) {
            cleanupWait();
            resolve();
          } else if (done) {
            cleanupWait();
            reject(new Error(`exited without ${pattern}; ${printed()}`));
          }
        };
        const timer = setTimeout(() => {
          cleanupWait();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms; ${printed()}`));
        }, timeoutMs);
        const cleanupWait = () => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
        check();
      }),
      exited: async (timeoutMs = 20_000) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => {
            child.kill("SIGKILL");
            reject(new Error(`still running after ${timeoutMs} ms; ${printed()}`));
          }, timeoutMs);
        });
        try {
          return { code: await Promise.race([exit, late]), stdout, stderr };
        } finally {
          clearTimeout(timer);
        }
      },
      kill: () => { child.kill("SIGKILL"); },
    };
  }

  /** Runs `nats <args>` to its end. */
  run(args: readonly string[], timeoutMs?: number): Promise<CliResult> {
    return this.start(args).exited(timeoutMs);
  }

  remove(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

/**
 * The reply body of `nats req`: the CLI prints it on stdout followed by two empty lines
 * (its "Sending request" / "Received with rtt" lines go to stderr).
 */
export function replyBody(result: CliResult): string {
  if (result.code !== 0 || !result.stdout.endsWith("\n\n\n")) {
    throw new Error(`unexpected nats req output (exit ${result.code}):\n${result.stdout}\n` +
      `--- stderr:\n${result.stderr}`);
  }
  return result.stdout.slice(0, -3);
}
