import { createServer, type Server } from "node:http";
import { connectNats, type NatsOptions } from "../adapters/nats/connection.js";
import { createUi } from "./routes.js";

export interface StandaloneUi {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

export interface StandaloneOptions extends Omit<NatsOptions, "name"> {
  readonly prefix: string;
  readonly acceptors: readonly string[];
  /** 0 picks a free port. */
  readonly port: number;
  /** The page's Race button may create keys (`--race`). */
  readonly race?: boolean;
  readonly host?: string;
}

/** The page server on its own: `paxoskv ui`, against any running cluster. */
export async function startStandaloneUi(options: StandaloneOptions): Promise<StandaloneUi> {
  const nc = await connectNats({
    servers: options.servers, user: options.user, password: options.password, tls: options.tls,
    name: "paxoskv-ui",
  });
  const ui = createUi({
    nc, prefix: options.prefix, acceptors: options.acceptors,
    connect: {
      servers: options.servers, user: options.user, password: options.password, tls: options.tls,
    },
    onError: (what, err) => console.error(`paxoskv ui: ${what}:`, err),
    race: options.race === true,
  });
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (ui.route(path, req, res)) return;
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  return {
    server, port,
    async close() {
      ui.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!nc.isClosed()) await nc.drain();
    },
  };
}
