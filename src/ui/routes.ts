import type { IncomingMessage, ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Readiness } from "../protocol/readiness.js";
import type { RaceReply } from "./api.js";
import { ClusterView } from "./cluster.js";
import { PAGE_HTML } from "./page.js";
import { runRace, type RaceConnect } from "./race.js";
import { TraceFeeds } from "./trace-feed.js";

export interface UiOptions {
  /** The connection the page server reads the cluster through (the node's own). */
  readonly nc: NatsConnection;
  readonly prefix: string;
  /** The configured acceptor set (PAXOSKV_ACCEPTORS). */
  readonly acceptors: readonly string[];
  /** How the race's two clients connect (each opens its own connection). */
  readonly connect: RaceConnect;
  /** The node serving the page; absent for the standalone `paxoskv ui`. */
  readonly self?: {
    readonly node: string;
    readonly roles: readonly string[];
    readiness(): Promise<Readiness>;
  } | undefined;
  readonly onError?: (what: string, err: unknown) => void;
  /**
   * `POST /api/race` creates keys: opt-in (`PAXOSKV_PAGE_RACE`, `paxoskv ui --race`), since
   * the page's port has no authentication. Off, it answers 403 and the page greys the button.
   */
  readonly race?: boolean;
}

export interface Ui {
  /**
   * Serves `/` (the page), `/replay` (the same page, replay first), `/api/cluster`,
   * `/api/trace` (Server-Sent Events) and `POST /api/race`; false for any other path.
   */
  route(path: string, req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends the open trace feeds; call before closing the HTTP server. */
  close(): void;
}

/** The web page and its API, mounted on a node's HTTP port or on `paxoskv ui`. */
export function createUi(options: UiOptions): Ui {
  const cluster = new ClusterView(options);
  const feeds = new TraceFeeds(options.nc, options.prefix);
  let racing = false;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
      .end(`${JSON.stringify(body)}\n`);
  };
  const fail = (res: ServerResponse, what: string) => (err: unknown) => {
    options.onError?.(what, err);
    if (!res.headersSent) {
      json(res, 500, { ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  };

  return {
    route(path, req, res) {
      const method = req.method ?? "GET";
      const read = method === "GET" || method === "HEAD";
      if ((path === "/" || path === "/replay") && read) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" })
          .end(method === "HEAD" ? undefined : PAGE_HTML);
        return true;
      }
      if (path === "/api/cluster" && read) {
        cluster.status().then((status) => json(res, 200, status), fail(res, "cluster status"));
        return true;
      }
      if (path === "/api/trace" && method === "GET") {
        feeds.serve(new URL(req.url ?? "/", "http://page"), req, res);
        return true;
      }
      if (path === "/api/race") {
        if (options.race !== true) {
          json(res, 403, { ok: false, error: "the race creates keys, and is off on this " +
            "server: set PAXOSKV_PAGE_RACE=true (paxoskv ui --race) to allow it" });
        } else if (method !== "POST") {
          res.writeHead(405, { allow: "POST" }).end();
        } else if (!(req.headers["content-type"] ?? "").startsWith("application/json")) {
          // A plain form post from another site cannot set this without a CORS preflight.
          json(res, 415, { ok: false, error: "POST application/json" });
        } else if (racing) {
          json(res, 409, { ok: false, error: "a race is running" });
        } else {
          racing = true;
          req.resume();
          runRace({ nc: options.nc, prefix: options.prefix, connect: options.connect })
            .then((result) => json(res, 200, { ok: true, ...result } satisfies RaceReply),
              fail(res, "race"))
            .finally(() => { racing = false; });
        }
        return true;
      }
      return false;
    },
    close() {
      feeds.close();
      cluster.close();
    },
  };
}
