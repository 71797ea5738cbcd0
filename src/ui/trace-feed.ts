import type { IncomingMessage, ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeUtf8 } from "../adapters/nats/connection.js";
import { validateKey } from "../protocol/subjects.js";
import { traceSubject } from "../protocol/trace.js";
import type { TraceReady } from "./api.js";
import {
  TRACE_RENEW_MS, TRACE_TTL_MS, traceControlSubject, type TraceControl,
} from "../protocol/trace-control.js";

const HEARTBEAT_MS = 15_000;
/** A page that cannot keep up loses trace events rather than growing the node's memory. */
const SSE_BUFFER_BYTES_MAX = 1 << 20;

/** Why a key pattern is invalid (`race.>`, `orders.*.x`, `X`), or null when it is valid. */
export function validatePattern(pattern: string): string | null {
  const tokens = pattern.split(".");
  if (tokens.some((t, i) => t === ">" && i !== tokens.length - 1)) {
    return "'>' may only be the last token";
  }
  const concrete = tokens.map((t) => (t === "*" || t === ">" ? "w" : t)).join(".");
  return validateKey(concrete);
}

/**
 * Asks every node to trace keys matching `pattern` and waits for their acknowledgements, so
 * a create sent afterwards is traced. Returns the node IDs that answered.
 */
export async function enableTracing(
  nc: NatsConnection, prefix: string, pattern: string, ttlMs = TRACE_TTL_MS,
): Promise<string[]> {
  const nodes: string[] = [];
  try {
    const replies = await nc.requestMany(traceControlSubject(prefix),
      JSON.stringify({ pattern, ttlMs } satisfies TraceControl), { strategy: "stall", stall: 150, maxWait: 1500 });
    for await (const reply of replies) {
      const node = (reply.json<{ node?: unknown }>()).node;
      if (typeof node === "string") nodes.push(node);
    }
  } catch {
    // No node runs (no responders): nothing to trace, which the caller shows.
  }
  return nodes.sort();
}

/**
 * `GET /api/trace?pattern=race.>`: Server-Sent Events of the trace events of keys matching
 * the pattern, for as long as the page stays connected. The node subscribes to
 * `<prefix>.trace.<pattern>` and renews the tracing request every 5 s; when the page goes
 * away, the renewals stop and every node stops tracing within the TTL.
 */
export class TraceFeeds {
  readonly #open = new Set<() => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly feedsMax = 32,
  ) {}

  serve(url: URL, req: IncomingMessage, res: ServerResponse): void {
    const pattern = url.searchParams.get("pattern") ?? ">";
    const problem = validatePattern(pattern);
    if (problem !== null) {
      res.writeHead(400, { "content-type": "application/json" })
        .end(JSON.stringify({ ok: false, error: `bad pattern: ${problem}` }));
      return;
    }
    if (this.#open.size >= this.feedsMax) {
      res.writeHead(503, { "content-type": "application/json" })
        .end(JSON.stringify({ ok: false, error: "too many trace feeds open" }));
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    const send = (event: string, data: string) => {
      if (res.writableLength > SSE_BUFFER_BYTES_MAX) return;
      res.write(`event: ${event}\ndata: ${data}\n\n`);
    };
    // Subscribe before switching tracing on, so no event of a create started after is lost.
    const sub = this.nc.subscribe(traceSubject(this.prefix, pattern), {
      callback: (err, msg) => {
        const text = err === null ? decodeUtf8(msg.data) : null;
        if (text !== null) send("trace", text);
      },
    });
    const renew = setInterval(() => {
      if (!this.nc.isClosed()) {
        this.nc.publish(traceControlSubject(this.prefix),
          JSON.stringify({ pattern, ttlMs: TRACE_TTL_MS } satisfies TraceControl));
      }
    }, TRACE_RENEW_MS);
    const heartbeat = setInterval(() => res.write(": ping\n\n"), HEARTBEAT_MS);
    const close = () => {
      if (!this.#open.delete(close)) return;
      clearInterval(renew);
      clearInterval(heartbeat);
      sub.unsubscribe();
      res.end();
    };
    this.#open.add(close);
    req.on("close", close);
    res.write("retry: 2000\n\n");
    void enableTracing(this.nc, this.prefix, pattern).then((nodes) => {
      send("ready", JSON.stringify({ pattern, nodes } satisfies TraceReady));
    });
  }

  /** Ends every open feed (before the HTTP server closes: it waits for open connections). */
  close(): void {
    for (const close of [...this.#open]) close();
  }
}
