import { writeSync } from "node:fs";
import type { ProposerStep } from "../../core/proposer.js";

/**
 * Test-only crash points for the fault-injection suite (`npm run chaos`), off unless
 * PAXOSKV_FAILPOINT is set, e.g. `crash-after-accept:0.05`: at that point of a proposal the
 * process kills itself (SIGKILL, like a power cut) with that probability.
 * - `crash-before-accept`: a majority promised, the Accept never leaves;
 * - `crash-after-accept`: the Accept left (a few ms earlier), the replies are never counted;
 * - `crash-after-chosen`: a majority accepted, nobody is told (no reply, no announcement).
 */
export type Failpoint = "crash-before-accept" | "crash-after-accept" | "crash-after-chosen";

const armed = new Map((process.env["PAXOSKV_FAILPOINT"] ?? "").split(",")
  .map((s) => s.trim().split(":")).filter(([name]) => name !== undefined && name !== "")
  .map(([name, p]) => [name as Failpoint, Number(p ?? "1")]));

export const FAILPOINTS_ARMED = armed.size > 0;

function crash(name: Failpoint): void {
  writeSync(2, `FAILPOINT ${name}: killing process ${process.pid}\n`);
  process.kill(process.pid, "SIGKILL");
}

function fires(name: Failpoint): boolean {
  const p = armed.get(name);
  return p !== undefined && Math.random() < p;
}

/** Called with each proposer step before its messages are sent. */
export function proposerFailpoints(step: ProposerStep): void {
  if (step.outbox.some((m) => m.type === "accept")) {
    if (fires("crash-before-accept")) crash("crash-before-accept");
    if (fires("crash-after-accept")) setTimeout(() => crash("crash-after-accept"), 2);
  }
  if (step.state.outcome?.kind === "chosen" && fires("crash-after-chosen")) {
    crash("crash-after-chosen");
  }
}
