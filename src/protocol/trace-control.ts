/**
 * The trace control message: a tracer (`paxoskv trace`, an open page) asks every node to
 * trace the keys matching a pattern for a while. Apart from `trace.ts` so that the page's
 * bundle, which imports the event's helpers, does not carry zod.
 */
import { z } from "zod";

/** Tracers ask every node to trace keys matching `pattern` for `ttlMs`; they renew it. */
export function traceControlSubject(prefix: string): string {
  return `${prefix}.trace-control`;
}

/** How long one control message switches tracing on; tracers renew it at a third of it. */
export const TRACE_TTL_MS = 15_000;
export const TRACE_RENEW_MS = TRACE_TTL_MS / 3;

export const TraceControlSchema = z.object({
  pattern: z.string().min(1).max(255).default(">"),
  ttlMs: z.number().int().min(100).max(600_000).default(TRACE_TTL_MS),
}).strict();
export type TraceControl = z.input<typeof TraceControlSchema>;
