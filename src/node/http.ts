import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { NatsConnection, NatsTlsFiles } from "../adapters/nats/connection.js";
import type { Readiness } from "../protocol/readiness.js";
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
}

export type MountPage = (host: PageHost) => PageRoutes;

export interface HttpRoutes {
  readiness(): Promise<Readiness>;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  /** Other routes (the web page); returns false when it does not serve the path. */
  other?(path: string, req: IncomingMessage, res: ServerResponse): boolean;
}

/**
 * The node's HTTP port: `/healthz` (the process serves), `/readyz` (it can do its job:
 * 200 or 503 with the checks as JSON), `/metrics` (Prometheus), then the web page.
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
      routes.readiness().then((r) => {
        res.writeHead(r.ready ? 200 : 503, { "content-type": "application/json" })
          .end(`${JSON.stringify(r)}\n`);
      }, (err: unknown) => {
        log.warn({ err }, "readiness check failed");
        res.writeHead(503, { "content-type": "application/json" }).end('{"ready":false}\n');
      });
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
