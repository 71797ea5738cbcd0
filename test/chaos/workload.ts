/**
 * The chaos workload: logical client processes, one operation at a time each, like Jepsen's:
 * creates racing on a small set of hot keys (each retired after a number of operations, so
 * keys keep moving from absent to chosen under faults), creates on fresh keys (acknowledged
 * creates to count across the restart), linearizable gets and replica-gets. Every value is
 * unique, so the checker can tell whose create won.
 */
import type { PaxosKvClient } from "../../src/client/client.js";
import { randomInt, seededRandom, type Random } from "../../src/core/random.js";
import { isOk, type Recorder } from "./recorder.js";

export interface WorkloadOptions {
  readonly seed: number;
  readonly clients: readonly PaxosKvClient[];
  readonly recorder: Recorder;
  /** Logical processes (default 8). */
  readonly processes?: number;
  /** Hot keys live at once (default 4). */
  readonly hotKeys?: number;
  /** Operations on a hot key before it is retired (default 12). */
  readonly opsPerHotKey?: number;
  /** Think time between a process's operations, at most this many ms (default 20). */
  readonly thinkMs?: number;
}

export class Workload {
  readonly #options: WorkloadOptions;
  readonly #random: Random;
  readonly #hot: { key: string; ops: number }[] = [];
  readonly #recent: string[] = [];
  #generation = 0;
  #running: Promise<void>[] = [];
  #stopped = false;

  constructor(options: WorkloadOptions) {
    this.#options = options;
    this.#random = seededRandom(options.seed ^ 0x5eed);
    for (let i = 0; i < (options.hotKeys ?? 4); i++) this.#hot.push(this.#newHot());
  }

  /** The keys now hot (for samplers). */
  hotKeys(): string[] {
    return this.#hot.map((h) => h.key);
  }

  start(): void {
    const count = this.#options.processes ?? 8;
    this.#running = Array.from({ length: count }, (_, i) => this.#process(i));
  }

  /** Stops issuing operations and waits for those in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  #newHot(): { key: string; ops: number } {
    return { key: `c${this.#options.seed}.hot.${this.#generation++}`, ops: 0 };
  }

  /** A hot key for one more operation; retires it after its share. */
  #hotKey(): string {
    const i = randomInt(this.#random, this.#hot.length);
    const slot = this.#hot[i] as { key: string; ops: number };
    slot.ops++;
    if (slot.ops >= (this.#options.opsPerHotKey ?? 12)) {
      this.#remember(slot.key);
      this.#hot[i] = this.#newHot();
    }
    return slot.key;
  }

  #remember(key: string): void {
    this.#recent.push(key);
    if (this.#recent.length > 200) this.#recent.splice(0, this.#recent.length - 200);
  }

  #readKey(): string {
    if (this.#recent.length > 0 && this.#random.next() < 0.4) {
      return this.#recent[randomInt(this.#random, this.#recent.length)] as string;
    }
    return this.#hotKey();
  }

  async #process(index: number): Promise<void> {
    const { recorder, clients } = this.#options;
    const name = `w${index}`;
    const client = clients[index % clients.length] as PaxosKvClient;
    const random = seededRandom((this.#options.seed * 1000 + index) >>> 0);
    let n = 0;
    while (!this.#stopped) {
      const dice = random.next();
      const value = `${name}:${n++}${random.next() < 0.1 ? `:${"x".repeat(randomInt(random, 2000))}` : ""}`;
      if (dice < 0.45) {
        await recorder.create(client, name, this.#hotKey(), value);
      } else if (dice < 0.6) {
        const key = `c${this.#options.seed}.fresh.${name}.${n}`;
        const op = await recorder.create(client, name, key, value);
        if (isOk(op) || op.outcome.type === "unknown") this.#remember(key);
      } else if (dice < 0.8) {
        await recorder.read(client, name, this.#readKey(), false);
      } else {
        await recorder.read(client, name, this.#readKey(), true);
      }
      const think = this.#options.thinkMs ?? 20;
      if (think > 0) await sleep(randomInt(random, think + 1));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
