import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { NatsConnection, NatsTlsFiles } from "../../adapters/nats/connection.js";
import type { Readiness } from "../../protocol/readiness.js";
import type { Logger } from "./logger.js";

/**
 * The web page's routes. Whoever starts the node (the CLI) mounts them, so the node does not
 * depend on the page: it hands over what the page needs and forwards the paths it does not serve.
 */
export interface PageRoutes {
  route(path: string, req: IncomingMessage, res: ServerResponse): boolean;
  /** Ends the page's open streams; called before the HTTP server closes. */
  close(): void;
}

/** What `/votingz` reports: whether this node's acceptor votes, and why not. */
export interface Voting {
  readonly voting: boolean;
  readonly reason?: string;
  /** The acceptor's Redis version, when it answered. */
  readonly redisVersion?: string;
  readonly checks: Readonly<Record<string, boolean | number | string>>;
}

/** What a node gives its page: its NATS connection, how clients connect, and itself. */
export interface PageHost {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly acceptors: readonly string[];
  readonly connect: {
    readonly servers: readonly string[];
    readonly user?: string | undefined;
    readonly password?: string | undefined;
    readonly tls?: NatsTlsFiles | undefined;
  };
  readonly self: {
    readonly node: string;
    readonly roles: readonly string[];
    readiness(): Promise<Readiness>;
  };
  readonly onError: (what: string, err: unknown) => void;
  /** The page's Race button may create keys (`PAXOSKV_PAGE_RACE`). */
  readonly race: boolean;
}

export type MountPage = (host: PageHost) => PageRoutes;

export interface HttpRoutes {
  readiness(): Promise<Readiness>;
  /** The acceptor's voting state; absent on a node without the acceptor role (404). */
  voting?(): Promise<Voting>;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  /** Other routes (the web page); returns false when it does not serve the path. */
  other?(path: string, req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * The node's HTTP port: `/healthz` (the process serves), `/readyz` (it serves clients: 200 or
 * 503 with the checks as JSON; for load balancers and compose), `/votingz` (its acceptor votes:
 * 200 or 503 with the reason; a fenced acceptor leaves the node serving), `/metrics`
 * (Prometheus), then the web page.
 */
export async function startHttp(port: number, routes: HttpRoutes, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (routes.other?.(path, req, res) === true) return;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      routes.metrics().then((text) => {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(text);
      }, (err: unknown) => {
        log.warn({ err }, "metrics collection failed");
        res.writeHead(500).end();
      });
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      respondJson(res, log, "readiness", routes.readiness(), (r) => r.ready, '{"ready":false}');
      return;
    }
    if (path === "/votingz" && routes.voting !== undefined) {
      respondJson(res, log, "voting", routes.voting(), (v) => v.voting, '{"voting":false}');
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, () => resolve());
  });
  const address = server.address();
  log.info({ port: typeof address === "object" && address !== null ? address.port : port },
    "HTTP listening");
  return server;
}

/** 200 with the JSON when `ok`, else 503; 503 with `failed` when the check itself failed. */
function respondJson<T>(
  res: ServerResponse, log: Logger, what: string, check: Promise<T>, ok: (t: T) => boolean,
  failed: string,
): void {
  check.then((t) => {
    res.writeHead(ok(t) ? 200 : 503, { "content-type": "application/json" })
      .end(`${JSON.stringify(t)}\n`);
  }, (err: unknown) => {
    log.warn({ err }, `${what} check failed`);
    res.writeHead(503, { "content-type": "application/json" }).end(`${failed}\n`);
  });
}
