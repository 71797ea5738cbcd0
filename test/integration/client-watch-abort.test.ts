/**
 * Found by test/integration/authz.test.ts: `watch` never ended when its signal was aborted
 * while the caller was handling an event (the generator waited for a wake-up nobody sent).
 */
import { connect } from "@nats-io/transport-node";
import { afterAll, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { cleanup, startNats } from "./support/servers.js";

afterAll(async () => {
  await cleanup();
});

it("client: watch ends when its signal is aborted from inside the loop", async () => {
  const nats = await startNats({ jetstream: false });
  const nc = await connect({ servers: nats.url });
  const client = new PaxosKvClient(nc);
  const stop = new AbortController();
  const seen: string[] = [];
  const watching = (async () => {
    for await (const event of client.watch("w", stop.signal)) {
      seen.push(event.key);
      stop.abort();
    }
  })();
  await nc.flush();
  nc.publish("paxoskv.chosen.w.x", JSON.stringify({ key: "w.x", value: "1", ballot: "1.A" }));
  const ended = await Promise.race([watching.then(() => "ended"),
    new Promise((resolve) => setTimeout(() => resolve("still running after 3 s"), 3000))]);
  expect(ended).toBe("ended");
  expect(seen).toEqual(["w.x"]);
  await nc.close();
});
