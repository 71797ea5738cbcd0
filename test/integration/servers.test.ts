import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, natsServerBinary, startNats, startRedis } from "./support/servers.js";

afterAll(cleanup);

describe("support/servers", () => {
  it("servers - nats keeps its JetStream store across a kill and restart", async () => {
    const nats = await startNats({ jetstream: true });
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    let nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.add({ name: "S", subjects: ["s.>"] });
    await nc.close();
    await nats.kill("SIGKILL");
    await nats.restart();
    nc = await connect({ servers: nats.url });
    expect((await (await jetstreamManager(nc)).streams.info("S")).config.name).toBe("S");
    await nc.close();
  });

  it("servers - nats is the pinned release (or the one PAXOSKV_NATS_SERVER names)", async () => {
    const script = readFileSync(new URL("../../scripts/ensure-deps.sh", import.meta.url), "utf8");
    const pinned = /^NATS_SERVER_VERSION=v(\S+)$/m.exec(script)?.[1];
    const named = process.env["PAXOSKV_NATS_SERVER"];
    // `nats-server: v2.9.10`: what the named binary says it is.
    const expected = named ? / v(\S+)/.exec(execFileSync(named, ["--version"], { encoding: "utf8" }))?.[1] :
      pinned;
    expect(expected).toMatch(/^2\.\d+\.\d+$/);
    const nats = await startNats({ jetstream: false });
    const nc = await connect({ servers: nats.url });
    expect(nc.info?.version).toBe(expected);
    await nc.close();
  });

  it("servers - PAXOSKV_NATS_SERVER naming no executable file is an error, not a fallback", () => {
    expect(() => natsServerBinary({ PAXOSKV_NATS_SERVER: "/nonexistent/nats-server" }))
      .toThrow("PAXOSKV_NATS_SERVER=/nonexistent/nats-server is not an executable file");
    expect(natsServerBinary({ PAXOSKV_NATS_SERVER: "/usr/sbin/nats-server" }))
      .toBe("/usr/sbin/nats-server");
  });

  it("servers - cleanup stops every server and removes its dir", async () => {
    const [redis, nats] = await Promise.all([startRedis(), startNats()]);
    expect(existsSync(redis.dir) && existsSync(nats.dir)).toBe(true);
    await cleanup();
    expect(existsSync(redis.dir) || existsSync(nats.dir)).toBe(false);
  });
});
