/**
 * A node whose last part cannot start (its HTTP port is taken) fails to start as a whole: the
 * parts started before it (the acceptor, the client endpoints) stop again and answer nothing,
 * and its NATS connection closes. An embedder that catches the failure is left with no
 * half-started node voting or taking creates behind its back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/node/infrastructure/config.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";
import { openRedisStore } from "../../src/node/infrastructure/open-store.js";
import { startNode } from "../../src/node/node.js";
import { cleanup, freePort, startNats, startRedis, type ServerHandle } from "./support/servers.js";

let nats: ServerHandle;
let monitorPort: number;
let redis: ServerHandle;
let blocker: Server;
let nc: NatsConnection;
let dataDir: string;

beforeAll(async () => {
  monitorPort = await freePort();
  [nats, redis] = await Promise.all([
    startNats({ config: `http: "127.0.0.1:${monitorPort}"\n` }), startRedis()]);
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  nc = await connect({ servers: nats.url });
  dataDir = mkdtempSync(join(tmpdir(), "paxoskv-start-failure-"));
});

afterAll(async () => {
  await nc?.close();
  blocker?.close();
  await cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("node start failure", () => {
  it("node start failure - a node that cannot take its HTTP port leaves no part answering " +
    "and closes its NATS connection", async () => {
    const config = loadConfig({
      PAXOSKV_NODE_ID: "A", PAXOSKV_ACCEPTORS: "A,B,C", PAXOSKV_NATS_URL: nats.url,
      PAXOSKV_REDIS_URL: redis.url, PAXOSKV_DATA_DIR: dataDir,
      PAXOSKV_HTTP_PORT: String((blocker.address() as AddressInfo).port),
    });
    // The acceptor's store, watched: the parts' stops must close it (closing only the NATS
    // connection would silence the subjects below and leave Redis connected).
    let storeClosed = false;
    const openStore: typeof openRedisStore = async (c, log) => {
      const store = await openRedisStore(c, log);
      const close = store.close.bind(store);
      store.close = async () => { storeClosed = true; await close(); };
      return store;
    };
    let started: Awaited<ReturnType<typeof startNode>> | null = null;
    await expect((async () => {
      started = await startNode(config, { log: createLogger("A", "silent"), openStore });
    })()).rejects.toThrow(/EADDRINUSE/);
    expect(started).toBeNull();
    expect(storeClosed).toBe(true);

    // The door and the acceptor had started before the HTTP port: both are gone again (polled:
    // the server handles the node's disconnect a moment after the client closed).
    await vi.waitFor(async () => {
      await expect(nc.request("paxoskv.create.after-failure", "v", { timeout: 1_000 }))
        .rejects.toThrow(/no responders/);
      await expect(nc.request("$SRV.PING", "", { timeout: 1_000 }))
        .rejects.toThrow(/no responders/);
      // The node's own connection is closed: the server sees only this test's.
      const connz = await fetch(`http://127.0.0.1:${monitorPort}/connz`).then((r) => r.json()) as
        { connections: { name?: string }[] };
      expect(connz.connections.map((c) => c.name ?? "")).not.toContain("paxoskv-A");
    }, { timeout: 10_000, interval: 200 });
  });
});
