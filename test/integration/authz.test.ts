/**
 * Security (matrix rows E1–E3): the shipped NATS authorization (docker/nats-server.conf, its
 * permission blocks and accounts reused here as they are) keeps clients out of the Paxos
 * subjects, JetStream internals and the chosen stream, while nodes run normally; a Redis with
 * a password or a least-privilege ACL user serves the acceptor and refuses everything else,
 * and a read-only ACL user serves direct quorum reads (PAXOSKV_ACCEPTOR_REDIS).
 *
 * Why it matters, shown on the same cluster: a well-formed forged Prepare, published with
 * the nodes' rights, does change an acceptor's state (unauthenticated Paxos is not
 * Byzantine-tolerant); with the client's rights it never reaches an acceptor.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { AcceptorFencedError } from "../../src/adapters/ports.js";
import { RedisAcceptorReader, RedisAcceptorStore } from "../../src/adapters/redis/store.js";
import { ballot } from "../../src/core/ballot.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { authConfig, CLIENT, NODE } from "./support/auth-config.js";
import { cleanup, startNats, startRedis, type ServerHandle } from "./support/servers.js";

let nats: ServerHandle;
let cluster: LocalCluster;
const connections: NatsConnection[] = [];

async function as(who: { user: string; pass: string }): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, ...who });
  connections.push(nc);
  return nc;
}

/** The permission errors the server sent on this connection (async `-ERR`s). */
function permissionErrors(nc: NatsConnection): string[] {
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error") errors.push(String((s as { error?: unknown }).error));
    }
  })();
  return errors;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  nats = await startNats({ config: authConfig() });
  cluster = await startLocalCluster({
    logLevel: "warn",
    env: { PAXOSKV_NATS_URL: nats.url, PAXOSKV_NATS_USER: NODE.user, PAXOSKV_NATS_PASSWORD: NODE.pass },
  });
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stopNodes();
  await cleanup();
});

describe("NATS authorization (docker/nats-server.conf)", () => {
  it("E1: refuses anonymous connections and wrong passwords", async () => {
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toThrow(/Authorization/i);
    await expect(connect({ servers: nats.url, reconnect: false, user: CLIENT.user, pass: "nope" }))
      .rejects.toThrow(/Authorization/i);
  });

  it("nodes run with the node user; the client user creates, reads and watches", async () => {
    const client = new PaxosKvClient(await as(CLIENT));
    const stop = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const event of client.watch("authz", stop.signal)) {
        seen.push(`${event.key}=${event.value}`);
        stop.abort();
      }
    })();
    await sleep(200);
    expect(await client.create("authz.ok", "1")).toEqual({ key: "authz.ok", value: "1", created: true });
    expect(await client.get("authz.ok")).toEqual({ key: "authz.ok", found: true, value: "1" });
    expect(await client.get("authz.ok", { replica: true })).toMatchObject({ found: true });
    await watching;
    expect(seen).toEqual(["authz.ok=1"]);
  });

  it("E2: a client cannot publish Paxos messages; a node-rights forgery would change state", async () => {
    const key = "authz.forged";
    const forged = JSON.stringify({ v: 1, items: [
      { type: "prepare", key, ballot: { round: Number.MAX_SAFE_INTEGER - 1, nodeId: "zz" } }] });
    const store = new RedisAcceptorStore({ acceptorId: "A", url: cluster.redis.get("A")?.url ?? "" });
    try {
      store.serveAs(await store.incarnation()); // read as node A does
      const client = await as(CLIENT);
      const errors = permissionErrors(client);
      for (const verb of ["prepare", "accept", "read", "rebuild", "list.A"]) {
        client.publish(`paxoskv.paxos.${verb}`, forged);
      }
      client.publish("paxoskv.paxos.reply.A.x", forged);
      await client.flush();
      await sleep(300);
      for (const subject of ["prepare", "accept", "read", "rebuild", "list.A", "reply.A.x"]) {
        expect(errors.join("\n")).toContain(`Permissions Violation for Publish to "paxoskv.paxos.${subject}"`);
      }
      expect(await store.read(key)).toEqual({ promised: null, accepted: null });

      // The same message with the nodes' rights: every acceptor promises the forged ballot.
      const node = await as(NODE);
      node.publish("paxoskv.paxos.prepare", forged);
      await node.flush();
      await sleep(300);
      expect((await store.read(key)).promised).toEqual(ballot(Number.MAX_SAFE_INTEGER - 1, "zz"));
    } finally {
      await store.close();
    }
  });

  it("E2: a client cannot subscribe to Paxos traffic nor touch JetStream or the chosen stream", async () => {
    const client = await as(CLIENT);
    const errors = permissionErrors(client);
    const sub = client.subscribe("paxoskv.paxos.>");
    const denied = (async () => {
      try {
        for await (const m of sub) void m;
        return "closed";
      } catch (err) {
        return String(err);
      }
    })();
    // Forged chosen events would poison every learner; deleting the stream would lose them.
    client.publish("paxoskv.chosen.authz.poison", JSON.stringify({ key: "authz.poison", value: "x", ballot: "1.zz" }));
    client.publish("paxoskv.log.forged", JSON.stringify({ v: 1, items: [{ key: "authz.poison", value: "x", ballot: "1.zz" }] }));
    client.publish("$JS.API.STREAM.DELETE.PAXOSKV_CHOSEN", "");
    client.publish("paxoskv.trace-control", "{}");
    await client.flush();
    await sleep(300);
    expect(await denied).toMatch(/Permissions Violation for Subscription to "paxoskv\.paxos\.>"/i);
    const all = errors.join("\n");
    expect(all).toMatch(/Publish to "paxoskv\.chosen\.authz\.poison"/);
    expect(all).toMatch(/Publish to "paxoskv\.log\.forged"/);
    expect(all).toMatch(/Publish to "\$JS\.API\.STREAM\.DELETE\.PAXOSKV_CHOSEN"/);
    expect(all).toMatch(/Publish to "paxoskv\.trace-control"/);
    const jsm = await jetstreamManager(await as(NODE));
    const info = await jsm.streams.info("PAXOSKV_CHOSEN", { subjects_filter: ">" });
    expect(info.state.subjects ?? {}).not.toHaveProperty("paxoskv.chosen.authz.poison");
    expect(info.state.subjects ?? {}).not.toHaveProperty("paxoskv.log.forged");
  });
});

describe("Redis authentication", () => {
  it("E1/E3: an acceptor Redis with a password and least-privilege ACL users", async () => {
    const aclUser = "acceptor";
    const server = await startRedis({ extraArgs: [
      "--requirepass", "admin-secret",
      // The acceptor needs its scripts, reads and writes on its prefix, SCAN, TIME (inside the
      // Accept script) and CONFIG GET (the durability check); nothing @dangerous besides.
      "--user", aclUser, "on", ">acc-secret", "~paxoskv:*", "resetchannels", "-@all", "+@read",
      "+@write", "+@scripting", "+@connection", "-@dangerous", "+config|get", "+info", "+time",
      // Another node's direct quorum reads: the read script, and inside it GET and HMGET only.
      "--user", "reader", "on", ">read-secret", "~paxoskv:*", "resetchannels", "-@all",
      "+@connection", "+info", "+evalsha", "+eval", "+get", "+hmget",
    ] });
    const port = server.port;
    const anonymous = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on("error", () => undefined);
    await anonymous.connect().catch(() => undefined);
    await expect(anonymous.get("x")).rejects.toThrow(/NOAUTH|closed/i);
    anonymous.disconnect();

    const store = new RedisAcceptorStore({ acceptorId: "A", url: `redis://${aclUser}:acc-secret@127.0.0.1:${port}` });
    const acl = new Redis({ port, username: aclUser, password: "acc-secret", maxRetriesPerRequest: 0 });
    const reader = new RedisAcceptorReader({ acceptorId: "A",
      url: `redis://reader:read-secret@127.0.0.1:${port}` });
    const readOnly = new Redis({ port, username: "reader", password: "read-secret",
      maxRetriesPerRequest: 0 });
    try {
      expect((await store.durability()).durable).toBe(true);
      // Everything the node's claim and a rejoin do, within the ACL.
      store.serveAs(await store.adoptIncarnation("acl-test"));
      await store.restore([{ key: "r", state: { promised: ballot(2, "A"), accepted: null } }],
        "acl-test");
      expect(await store.holdsState()).toBe(true);
      expect(await store.prepare({ type: "prepare", key: "k", ballot: ballot(1, "A") }))
        .toMatchObject({ type: "promise" });
      expect(await store.accept({ type: "accept", key: "k", ballot: ballot(1, "A"), value: "v" }))
        .toMatchObject({ type: "accepted" });
      expect((await store.read("k")).accepted?.value).toBe("v");
      for (const command of [["flushall"], ["config", "set", "appendfsync", "no"], ["keys", "*"],
        ["set", "other:key", "x"], ["shutdown", "nosave"], ["acl", "setuser", aclUser, "+@all"]]) {
        await expect(acl.call(command[0] as string, ...command.slice(1)), command.join(" "))
          .rejects.toThrow(/NOPERM/);
      }
      // A direct quorum read with the read-only user: fenced as the acceptor's own reads are.
      expect((await reader.readFenced("k", "acl-test")).accepted?.value).toBe("v");
      await expect(reader.readFenced("k", "another")).rejects.toThrow(AcceptorFencedError);
      for (const command of [["hset", "paxoskv:acc:A:k", "accepted_value", "w"],
        ["eval", "return redis.call('HSET', KEYS[1], 'accepted_value', 'w')", "1",
          "paxoskv:acc:A:k"], ["flushall"]]) {
        await expect(readOnly.call(command[0] as string, ...command.slice(1)), command.join(" "))
          .rejects.toThrow(/NOPERM|can't run this command/);
      }
      expect((await store.read("k")).accepted?.value).toBe("v");
    } finally {
      acl.disconnect();
      readOnly.disconnect();
      await Promise.all([store.close(), reader.close()]);
    }
  });
});
