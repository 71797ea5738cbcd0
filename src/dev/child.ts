import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { once } from "node:events";

/**
 * A child process we start, signal and wait for (a server or a node): keeps the tail of what
 * it prints, and knows when it has exited.
 */
export class ManagedChild {
  #child: ChildProcess | null = null;
  #exited: Promise<unknown> = Promise.resolve();
  #output = "";

  constructor(
    private readonly outputMax: number,
    private readonly echo?: (text: string) => void,
  ) {}

  get running(): boolean {
    return this.#child !== null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The running process, for messages over its IPC channel. */
  get child(): ChildProcess | null {
    return this.#child;
  }

  /** The last `outputMax` characters it printed. */
  output(): string {
    return this.#output;
  }

  /** Resolves when the current process has exited (at once when none runs). */
  exited(): Promise<unknown> {
    return this.#exited;
  }

  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    const child = spawn(command, args, options);
    this.#child = child;
    this.#output = "";
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.echo?.(text);
      this.#output = (this.#output + text).slice(-this.outputMax);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    // `once` rejects on 'error' (e.g. a failed spawn): that ends the process for us too.
    this.#exited = once(child, "exit").catch(() => undefined)
      .finally(() => { if (this.#child === child) this.#child = null; });
    return child;
  }

  /** Default SIGKILL (a crash); SIGSTOP/SIGCONT pause and resume without waiting. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    if (signal === "SIGSTOP" || signal === "SIGCONT") {
      child.kill(signal);
      return;
    }
    child.kill("SIGCONT"); // a paused process would never act on the signal
    child.kill(signal);
    await this.#exited;
  }

  /** For exit handlers, which cannot wait. */
  killNow(): void {
    this.#child?.kill("SIGKILL");
  }
}
