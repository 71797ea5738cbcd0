/**
 * The public subjects as the plain `nats` CLI uses them (`nats req paxoskv.create.X 3`): the
 * NATS text protocol spoken over a bare TCP socket, no client library, so nothing but the
 * subject and the body reaches the node. Also the NATS service discovery (`$SRV.*`).
 */
import { createConnection, type Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { connectTo, gather } from "./support/cluster-tools.js";
import { cleanup } from "./support/servers.js";

let cluster: LocalCluster;
let nc: NatsConnection;

beforeAll(async () => {
  cluster = await startLocalCluster();
  await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  nc = await connectTo(cluster);
});

afterAll(async () => {
  await nc?.close();
  await cluster?.stopNodes();
  await cleanup();
});

/** A reply as it came off the wire. */
interface RawMsg {
  readonly subject: string;
  readonly sid: string;
  readonly replyTo: string | undefined;
  readonly payload: Buffer;
}

/**
 * A minimal NATS protocol client over node:net, shaped like the `nats` CLI's request: CONNECT
 * without headers, SUB on an inbox, PUB with that inbox as reply subject, then read MSG.
 */
class RawNats {
  #buffer = Buffer.alloc(0);
  #waiters: ((msg: RawMsg) => void)[] = [];
  #queued: RawMsg[] = [];
  #errors: string[] = [];
  #sid = 0;

  private constructor(private readonly socket: Socket, readonly info: Record<string, unknown>) {
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
  }

  static async open(port: number): Promise<RawNats> {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setNoDelay(true);
    // The server speaks first: `INFO {...}\r\n`.
    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let text = "";
      const onData = (chunk: Buffer) => {
        text += chunk.toString("utf8");
        const end = text.indexOf("\r\n");
        if (end < 0) return;
        socket.off("data", onData);
        const line = text.slice(0, end);
        if (!line.startsWith("INFO ")) reject(new Error(`expected INFO, got ${line}`));
        else resolve(JSON.parse(line.slice(5)) as Record<string, unknown>);
        if (text.length > end + 2) socket.unshift(Buffer.from(text.slice(end + 2)));
      };
      socket.on("data", onData);
      socket.once("error", reject);
    });
    const raw = new RawNats(socket, info);
    raw.write(`CONNECT ${JSON.stringify({
      verbose: false, pedantic: false, tls_required: false, name: "raw-nats-cli-shape",
      lang: "raw", version: "0.0.0", protocol: 1, echo: true, headers: false,
      no_responders: false,
    })}\r\n`);
    await raw.ping();
    return raw;
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** PING → PONG: the server has processed everything sent before. */
  async ping(): Promise<void> {
    const pong = new Promise<void>((resolve) => { this.#onPong = resolve; });
    this.write("PING\r\n");
    await pong;
  }

  #onPong: (() => void) | null = null;

  /** `nats req <subject> <body>`: one request, its first reply. */
  async request(subject: string, body: string | Buffer, timeoutMs = 10_000): Promise<RawMsg> {
    const sid = String(++this.#sid);
    const inbox = `_INBOX.rawcli${sid}x${Date.now()}`;
    const payload = typeof body === "string" ? Buffer.from(body, "utf8") : body;
    this.write(`SUB ${inbox} ${sid}\r\n`);
    this.write(`UNSUB ${sid} 1\r\n`);
    this.write(Buffer.concat([
      Buffer.from(`PUB ${subject} ${inbox} ${payload.length}\r\n`), payload, Buffer.from("\r\n"),
    ]));
    const reply = await this.#next(timeoutMs);
    expect(reply.sid).toBe(sid);
    expect(reply.subject).toBe(inbox);
    return reply;
  }

  get errors(): readonly string[] {
    return this.#errors;
  }

  close(): void {
    this.socket.destroy();
  }

  #next(timeoutMs: number): Promise<RawMsg> {
    const queued = this.#queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(
        `no MSG within ${timeoutMs} ms (server errors: ${this.#errors.join("; ")})`)), timeoutMs);
      this.#waiters.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  }

  #deliver(msg: RawMsg): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(msg);
    else this.#queued.push(msg);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const end = this.#buffer.indexOf("\r\n");
      if (end < 0) return;
      const line = this.#buffer.subarray(0, end).toString("utf8");
      if (line.startsWith("MSG ") || line.startsWith("HMSG ")) {
        // MSG <subject> <sid> [reply-to] <#bytes> (HMSG adds <#header bytes> before it).
        const parts = line.split(" ");
        const headered = parts[0] === "HMSG";
        const total = Number(parts.at(-1));
        const headerBytes = headered ? Number(parts.at(-2)) : 0;
        const fields = parts.slice(1, headered ? -2 : -1);
        if (this.#buffer.length < end + 2 + total + 2) return; // wait for the payload
        const body = this.#buffer.subarray(end + 2 + headerBytes, end + 2 + total);
        this.#buffer = this.#buffer.subarray(end + 2 + total + 2);
        this.#deliver({
          subject: fields[0] ?? "", sid: fields[1] ?? "", replyTo: fields[2],
          payload: Buffer.from(body),
        });
        continue;
      }
      this.#buffer = this.#buffer.subarray(end + 2);
      if (line === "PING") this.write("PONG\r\n");
      else if (line === "PONG") this.#onPong?.();
      else if (line.startsWith("-ERR")) this.#errors.push(line);
    }
  }
}

describe("nats CLI shape - raw NATS protocol requests", () => {
  let raw: RawNats;

  beforeAll(async () => {
    raw = await RawNats.open(cluster.nats.port);
  });

  afterAll(() => raw?.close());

  it("nats CLI - `nats req paxoskv.create.X 3` answers exactly the documented JSON", async () => {
    const reply = await raw.request("paxoskv.create.X", "3");
    expect(reply.payload.toString("utf8")).toBe('{"ok":true,"key":"X","value":"3","created":true}');
    expect(raw.errors).toEqual([]);
  });

  it("nats CLI - the seed's second client `nats req paxoskv.create.X 7` learns X=3", async () => {
    const reply = await raw.request("paxoskv.create.X", "7");
    expect(reply.payload.toString("utf8"))
      .toBe('{"ok":true,"key":"X","value":"3","created":false}');
  });

  it("nats CLI - `nats req paxoskv.get.X ''` (empty body) reads the value", async () => {
    const reply = await raw.request("paxoskv.get.X", "");
    expect(reply.payload.toString("utf8")).toBe('{"ok":true,"key":"X","found":true,"value":"3"}');
  });

  it("nats CLI - get and replica-get of a key never created answer found:false", async () => {
    expect((await raw.request("paxoskv.get.Y", "")).payload.toString("utf8"))
      .toBe('{"ok":true,"key":"Y","found":false}');
    expect((await raw.request("paxoskv.replica-get.Y", "")).payload.toString("utf8"))
      .toBe('{"ok":true,"key":"Y","found":false}');
  });

  it("nats CLI - replica-get finds X once the replicas learned it", async () => {
    const deadline = Date.now() + 10_000;
    let text = "";
    // Several replicas answer in turn (queue group): ask until three in a row found it.
    for (let streak = 0; streak < 3 && Date.now() < deadline;) {
      text = (await raw.request("paxoskv.replica-get.X", "")).payload.toString("utf8");
      streak = text.includes('"found":true') ? streak + 1 : 0;
    }
    expect(text).toBe('{"ok":true,"key":"X","found":true,"value":"3"}');
  });

  it("nats CLI - a multi-token key, a UTF-8 value and the empty value", async () => {
    expect((await raw.request("paxoskv.create.users.42.name", "Zoë ☃")).payload.toString("utf8"))
      .toBe('{"ok":true,"key":"users.42.name","value":"Zoë ☃","created":true}');
    expect((await raw.request("paxoskv.get.users.42.name", "")).payload.toString("utf8"))
      .toBe('{"ok":true,"key":"users.42.name","found":true,"value":"Zoë ☃"}');
    // The contract sets no lower bound: an empty body is the empty value.
    expect((await raw.request("paxoskv.create.empty", "")).payload.toString("utf8"))
      .toBe('{"ok":true,"key":"empty","value":"","created":true}');
    expect((await raw.request("paxoskv.get.empty", "")).payload.toString("utf8"))
      .toBe('{"ok":true,"key":"empty","found":true,"value":""}');
  });

  it("nats CLI - a JSON-looking body is a plain value, not parsed", async () => {
    const body = '{"value":"9"}';
    expect(JSON.parse((await raw.request("paxoskv.create.json", body)).payload.toString()))
      .toEqual({ ok: true, key: "json", value: body, created: true });
  });

  it("nats CLI - an invalid key answers a coded error, not silence", async () => {
    expect(JSON.parse((await raw.request("paxoskv.create.a$b", "3")).payload.toString()))
      .toEqual({ ok: false, error: { code: "INVALID_KEY", message: expect.any(String) } });
  });
});

describe("nats CLI shape - service discovery", () => {
  interface ServiceInfo {
    type: string;
    name: string;
    id: string;
    version: string;
    metadata?: Record<string, string>;
    endpoints: { name: string; subject: string; queue_group?: string }[];
  }

  it("discovery - $SRV.PING answers once per node, all named paxoskv", async () => {
    const replies = await gather(nc, "$SRV.PING", "", 3, 3000);
    const pongs = replies.map((r) =>
      JSON.parse(r.string()) as { name: string; id: string; type: string });
    expect(pongs).toHaveLength(3);
    expect(pongs.every((p) => p.name === "paxoskv" && p.type === "io.nats.micro.v1.ping_response"))
      .toBe(true);
    expect(new Set(pongs.map((p) => p.id)).size).toBe(3);
    expect((await gather(nc, "$SRV.PING.paxoskv", "", 3, 3000))).toHaveLength(3);
  });

  it("discovery - $SRV.INFO.paxoskv lists create, get and replica-get on every node",
    async () => {
      const replies = await gather(nc, "$SRV.INFO.paxoskv", "", 3, 3000);
      expect(replies).toHaveLength(3);
      for (const reply of replies) {
        const info = JSON.parse(reply.string()) as ServiceInfo;
        expect(info.type).toBe("io.nats.micro.v1.info_response");
        expect(info.name).toBe("paxoskv");
        const endpoints = new Map(info.endpoints.map((e) => [e.name, e]));
        expect([...endpoints.keys()])
          .toEqual(expect.arrayContaining(["create", "get", "replica-get"]));
        expect(endpoints.get("create")?.subject).toBe("paxoskv.create.>");
        expect(endpoints.get("get")?.subject).toBe("paxoskv.get.>");
        expect(endpoints.get("replica-get")?.subject).toBe("paxoskv.replica-get.>");
        // One queue group across nodes: a request is answered once, not once per node.
        for (const e of endpoints.values()) expect(e.queue_group).toBe("paxoskv");
      }
      const nodeIds = replies.map((r) =>
        (JSON.parse(r.string()) as ServiceInfo).metadata?.["node"]);
      expect(nodeIds.sort()).toEqual(["A", "B", "C"]);
    });

  it("discovery - $SRV.INFO for another service name gets no answer", async () => {
    expect(await gather(nc, "$SRV.INFO.not-paxoskv", "", 1, 500)).toEqual([]);
  });
});
