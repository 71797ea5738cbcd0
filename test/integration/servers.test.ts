import { existsSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, startNats, startRedis } from "./support/servers.js";

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

  it("servers - cleanup stops every server and removes its dir", async () => {
    const [redis, nats] = await Promise.all([startRedis(), startNats()]);
    expect(existsSync(redis.dir) && existsSync(nats.dir)).toBe(true);
    await cleanup();
    expect(existsSync(redis.dir) || existsSync(nats.dir)).toBe(false);
  });
});
