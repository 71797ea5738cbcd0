/**
 * Found by `npm run chaos` (seed 1): after a NATS server of the cluster crashed, learners'
 * ordered consumers silently stopped following the chosen stream until two idle heartbeats
 * were missed (~30-60 s with the 30 s default pull), so replicas stayed stale long after the
 * heal. Followers must catch up within seconds of a crash of any server.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, expect, it } from "vitest";
import { ChosenLog } from "../../src/adapters/jetstream/chosen-log.js";
import { CHOSEN_STREAM } from "../../src/protocol/subjects.js";
import { cleanup, startNatsCluster, type ServerHandle } from "./support/servers.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(async () => {
  await cleanup();
});

it("chosen log: every follower catches up within 30 s after each NATS server of the cluster crashed once",
  async () => {
    const servers: ServerHandle[] = await startNatsCluster({ size: 3 });
    const urls = servers.map((s) => s.url);
    const connections: NatsConnection[] = [];
    const nc = async () => {
      const c = await connect({ servers: urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      connections.push(c);
      return c;
    };
    const admin = await nc();
    const jsm = await jetstreamManager(admin, { checkAPI: false, timeout: 2000 });
    for (let i = 0; ; i++) {
      try {
        await jsm.getAccountInfo();
        break;
      } catch (err) {
        if (i > 200) throw err;
        await sleep(250);
      }
    }
    const publisher = await ChosenLog.open(admin, "paxoskv", 3);
    const stop = new AbortController();
    const followers = await Promise.all([0, 1, 2].map(async () => {
      const log = await ChosenLog.open(await nc(), "paxoskv", 3);
      const keys = new Set<string>();
      // As a learner does: when the watchdog closes a stuck consumer (or it fails), follow
      // again from the start (learning is idempotent).
      void (async () => {
        while (!stop.signal.aborted) {
          await log.follow((record) => {
            for (const event of record.events) keys.add(event.key);
          }, () => undefined, stop.signal)
            .catch(() => undefined);
          await sleep(1000);
        }
      })();
      return keys;
    }));
    let published = 0;
    /**
     * Announces `count` new keys, each retried until the stream has it. The stream may be
     * without a leader for a while after a crash (longer on a loaded machine): that is the
     * stream's availability, not what this test measures, so the budget is generous.
     */
    const publish = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const key = `k${published}`;
        const deadline = Date.now() + 30_000;
        for (;;) {
          try {
            await publisher.announce({ key, value: "v", ballot: "1.A" });
            break;
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await sleep(100);
          }
        }
        published++;
      }
    };
    /**
     * A rolling crash, as an operator would run one: the next server goes down only once the
     * restarted one is a current replica again, so the stream never loses its quorum for good.
     */
    const waitStreamWhole = async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const cluster = await jsm.streams.info(CHOSEN_STREAM).then((i) => i.cluster)
          .catch(() => undefined);
        const replicas = cluster?.replicas ?? [];
        if (cluster?.leader !== undefined && replicas.length === 2
          && replicas.every((r) => r.current && !r.offline)) return;
        if (Date.now() > deadline) throw new Error(`stream not whole: ${JSON.stringify(cluster)}`);
        await sleep(200);
      }
    };
    try {
      await publish(20);
      for (const server of servers) {
        await server.kill("SIGKILL");
        await publish(20);
        await server.restart();
        await publish(20);
        await waitStreamWhole();
      }
      const total = published;
      const deadline = Date.now() + 30_000;
      while (followers.some((keys) => keys.size < total) && Date.now() < deadline) await sleep(200);
      expect(followers.map((keys) => keys.size)).toEqual([total, total, total]);
    } finally {
      stop.abort();
      await Promise.allSettled(connections.map((c) => c.close()));
    }
  }, 240_000);
