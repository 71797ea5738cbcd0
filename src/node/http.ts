import { createServer, type Server } from "node:http";
import type { Logger } from "./logger.js";

/** What `/readyz` reports; the node is ready when every check it has is true. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, boolean | number | string>>;
}

export interface HttpRoutes {
  readiness(): Promise<Readiness>;
}

/**
 * The node's HTTP port: `/healthz` (the process serves), `/readyz` (it can do its job:
 * 200 or 503 with the checks as JSON). Metrics and the page join it later.
 */
export async function startHttp(port: number, routes: HttpRoutes, log: Logger): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
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
