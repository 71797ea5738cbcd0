/**
 * The plain `nats` CLI, for real (natscli as pinned in scripts/ensure-deps.sh), running the
 * commands the README and `npm start`'s banner show, asserting what they print:
 *  - against `npm start`'s cluster (one nats-server, nodes A, B, C; no authorization): a
 *    context, `req` create / get / replica-get, `sub 'paxoskv.chosen.>'`, `micro ls` / `info`
 *    / `stats`;
 *  - against a nats-server with the compose stack's authorization (docker/nats-server.conf):
 *    the README's context with the client user, which may create and list the service but
 *    whose `pub paxoskv.paxos.prepare` the server refuses.
 * docs/nats-cli.md shows the same commands and outputs.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { authConfig, CLIENT, NODE } from "./support/auth-config.js";
import { NatsCli, replyBody } from "./support/nats-cli.js";
import { cleanup, startNats, type ServerHandle } from "./support/servers.js";

afterAll(cleanup);

/** `nats micro ls`'s and `stats`' instance IDs: the table's 22-character NUID cells. */
const ids = (table: string) => new Set([...table.matchAll(/│ ([0-9A-Za-z]{22}) │/g)].map((m) => m[1]));

describe("nats CLI against npm start's cluster", () => {
  let cluster: LocalCluster;
  const cli = new NatsCli();
  const req = async (subject: string, body: string) => replyBody(await cli.run(["req", subject, body]));

  beforeAll(async () => {
    cluster = await startLocalCluster();
    await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  });

  afterAll(async () => {
    await cluster?.stopNodes();
    cli.remove();
  });

  it("`nats context save paxoskv --server URL --select` writes into its own config dir", async () => {
    const saved = await cli.run(["context", "save", "paxoskv", "--server", cluster.nats.url,
      "--select"]);
    expect(saved.code).toBe(0);
    const path = join(cli.configDir, "nats", "context", "paxoskv.json");
    expect(saved.stdout).toContain('NATS Configuration Context "paxoskv"');
    expect(saved.stdout).toMatch(new RegExp(`Server URLs: ${cluster.nats.url}\\n`));
    expect(saved.stdout).toContain(`Path: ${path}`);
    expect(saved.stdout).toMatch(/Connection: OK/);
    expect(JSON.parse(readFileSync(path, "utf8"))).toMatchObject({ url: cluster.nats.url });
    expect(readFileSync(join(cli.configDir, "nats", "context.txt"), "utf8").trim()).toBe("paxoskv");
  });

  it("npm start's banner form, no context: `nats --server URL req paxoskv.create.B 3`", async () => {
    const bare = new NatsCli();
    try {
      const run = async (...args: string[]) =>
        replyBody(await bare.run(["--server", cluster.nats.url, "req", ...args]));
      expect(await run("paxoskv.create.B", "3")).toBe('{"ok":true,"key":"B","value":"3","created":true}');
      expect(await run("paxoskv.create.B", "7")).toBe('{"ok":true,"key":"B","value":"3","created":false}');
      expect(await run("paxoskv.get.B", "")).toBe('{"ok":true,"key":"B","found":true,"value":"3"}');
    } finally {
      bare.remove();
    }
  });

  it("`nats req paxoskv.create.X 3`, then `... 7`: the second learns X=3", async () => {
    const first = await cli.run(["req", "paxoskv.create.X", "3"]);
    expect(replyBody(first)).toBe('{"ok":true,"key":"X","value":"3","created":true}');
    expect(first.stderr).toMatch(/Sending request on "paxoskv\.create\.X"\n.*Received with rtt/);
    expect(await req("paxoskv.create.X", "7")).toBe('{"ok":true,"key":"X","value":"3","created":false}');
  });

  it("two `nats req paxoskv.create.R ...` at the same time, one with --server: one is created", async () => {
    const [a, b] = await Promise.all([
      cli.run(["req", "paxoskv.create.R", "3"]),
      cli.run(["req", "paxoskv.create.R", "7", "--server", cluster.nats.url]),
    ]);
    const replies = [replyBody(a), replyBody(b)].map((text) =>
      JSON.parse(text) as { value: string; created: boolean });
    expect(replies.filter((r) => r.created)).toHaveLength(1);
    expect(replies[0]?.value).toBe(replies[1]?.value);
  });

  it("`nats req paxoskv.get.X ''` reads the value; a key never created is found:false", async () => {
    expect(await req("paxoskv.get.X", "")).toBe('{"ok":true,"key":"X","found":true,"value":"3"}');
    expect(await req("paxoskv.get.Y", "")).toBe('{"ok":true,"key":"Y","found":false}');
    expect(await req("paxoskv.replica-get.Y", "")).toBe('{"ok":true,"key":"Y","found":false}');
  });

  it("`nats req paxoskv.replica-get.X ''` finds X once the replicas learned it", async () => {
    const deadline = Date.now() + 10_000;
    let text = "";
    // Several replicas answer in turn (queue group): ask until three in a row found it.
    for (let streak = 0; streak < 3 && Date.now() < deadline;) {
      text = await req("paxoskv.replica-get.X", "");
      streak = text.includes('"found":true') ? streak + 1 : 0;
    }
    expect(text).toBe('{"ok":true,"key":"X","found":true,"value":"3"}');
  });

  it("a multi-token key, a UTF-8 value, the empty value and a JSON-looking value", async () => {
    expect(await req("paxoskv.create.users.42.name", "Zoë ☃"))
      .toBe('{"ok":true,"key":"users.42.name","value":"Zoë ☃","created":true}');
    expect(await req("paxoskv.get.users.42.name", ""))
      .toBe('{"ok":true,"key":"users.42.name","found":true,"value":"Zoë ☃"}');
    expect(await req("paxoskv.create.empty", "")).toBe('{"ok":true,"key":"empty","value":"","created":true}');
    expect(await req("paxoskv.get.empty", "")).toBe('{"ok":true,"key":"empty","found":true,"value":""}');
    const body = '{"value":"9"}';
    expect(JSON.parse(await req("paxoskv.create.json", body)))
      .toEqual({ ok: true, key: "json", value: body, created: true });
  });

  it("an invalid key answers a coded error, not silence", async () => {
    expect(JSON.parse(await req("paxoskv.create.a$b", "3")))
      .toEqual({ ok: false, error: { code: "INVALID_KEY", message: expect.any(String) } });
  });

  it("`nats sub 'paxoskv.chosen.>'` prints each chosen event, one per key", async () => {
    const sub = cli.start(["sub", "paxoskv.chosen.>", "--count", "2"]);
    try {
      await sub.waitFor(/Subscribing on paxoskv\.chosen\.>/);
      await req("paxoskv.create.S1", "hello");
      await req("paxoskv.create.S1", "other"); // already chosen: no second event
      await req("paxoskv.create.S2", "world");
      const { code, stdout } = await sub.exited();
      expect(code).toBe(0);
      const blocks = stdout.split(/\n\n\n/).filter((b) => b !== "");
      expect(blocks).toHaveLength(2);
      for (const [i, [key, value]] of [["S1", "hello"], ["S2", "world"]].entries()) {
        const lines = (blocks[i] ?? "").split("\n");
        expect(lines[0]).toBe(`[#${i + 1}] Received on "paxoskv.chosen.${key}"`);
        // A plain core NATS message: no headers (the durable log is a separate stream).
        expect(lines, JSON.stringify(blocks)).toHaveLength(2);
        expect(JSON.parse(lines[1] ?? "")).toEqual({ key, value, ballot: expect.stringMatching(
          /^(\d+\.[ABC]|0\.fast)$/), acceptors: expect.arrayContaining([expect.stringMatching(/^[ABC]$/)]) });
      }
    } finally {
      sub.kill();
    }
  });

  it("`nats sub 'paxoskv.chosen.>' --raw` prints the events' bodies alone, one a line", async () => {
    const sub = cli.start(["sub", "paxoskv.chosen.>", "--count", "1", "--raw"]);
    try {
      // --raw prints nothing until a message comes, so create keys until one is seen.
      for (let i = 0; sub.stdout() === "" && i < 50; i++) {
        await req(`paxoskv.create.raw.${i}`, "raw");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const { code, stdout } = await sub.exited();
      expect(code).toBe(0);
      expect(stdout).toMatch(
        /^\{"key":"raw\.\d+","value":"raw","ballot":"(?:\d+\.[ABC]|0\.fast)","acceptors":\["[ABC]"(?:,"[ABC]")+\]\}\n$/);
    } finally {
      sub.kill();
    }
  });

  it("`nats micro ls` lists the paxoskv service once per node", async () => {
    const ls = await cli.run(["micro", "ls"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("All Services");
    expect(ls.stdout).toMatch(/│ Name +│ Version │ ID +│ Description +│/);
    expect(ls.stdout).toMatch(
      /│ paxoskv │ 0\.1\.0 +│ [0-9A-Za-z]{22} │ paxoskv: a write-once key-value store on Basic Paxos │/);
    expect(ids(ls.stdout).size).toBe(3);
  });

  it("`nats micro ls --json`: every node, its ID and endpoints in one queue group", async () => {
    const ls = await cli.run(["micro", "ls", "--json"]);
    const infos = JSON.parse(ls.stdout) as { name: string; id: string; type: string;
      metadata: Record<string, string>; endpoints: { name: string; subject: string;
        queue_group: string }[] }[];
    expect(infos.map((i) => i.metadata["node"]).sort()).toEqual(["A", "B", "C"]);
    for (const info of infos) {
      expect(info).toMatchObject({ name: "paxoskv", type: "io.nats.micro.v1.info_response" });
      // One queue group across nodes: a request is answered once, not once per node.
      expect(info.endpoints.map((e) => [e.name, e.subject, e.queue_group])).toEqual([
        ["create", "paxoskv.create.>", "paxoskv"], ["get", "paxoskv.get.>", "paxoskv"],
        ["replica-get", "paxoskv.replica-get.>", "paxoskv"]]);
    }
    expect(new Set(infos.map((i) => i.id))).toEqual(ids((await cli.run(["micro", "ls"])).stdout));
  });

  it("`nats micro info` of another service name finds nothing", async () => {
    const other = await cli.run(["micro", "info", "not-paxoskv"]);
    expect(other.code).toBe(1);
    expect(other.stderr).toBe("nats: error: no service instances found\n");
  });

  it("`nats micro info paxoskv` shows a node's endpoints, subjects and queue group", async () => {
    const info = await cli.run(["micro", "info", "paxoskv"]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/Service: paxoskv \([0-9A-Za-z]{22}\)/);
    expect(info.stdout).toMatch(/Metadata: +node: [ABC]\n +roles: proposer,acceptor,learner\n/);
    for (const name of ["create", "get", "replica-get"]) {
      expect(info.stdout).toMatch(new RegExp(
        ` Name: ${name}\\n +Subject: paxoskv\\.${name}\\.>\\n +Queue Group: paxoskv\\n`));
    }
  });

  it("`nats micro stats paxoskv` counts each node's requests per endpoint", async () => {
    const before = await cli.run(["micro", "stats", "paxoskv"]);
    await req("paxoskv.get.X", "");
    const after = await cli.run(["micro", "stats", "paxoskv"]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain("paxoskv Service Statistics");
    expect(ids(after.stdout).size).toBe(3);
    // Every node has a row per endpoint, in the one queue group.
    const rows = [...after.stdout.matchAll(
      /│ (?:[0-9A-Za-z]{22}| {22}) │ (create|get|replica-get) +│ (\d+) +│ paxoskv +│ (\d+) +│/g)];
    expect(rows.map((r) => r[1])).toEqual(Array(3).fill(["create", "get", "replica-get"]).flat());
    // The footer's total is the sum of the rows; the get above added exactly one request.
    const total = (text: string) => Number(/├[─┼]+┤\n│ +│ +│ (\d+) +│/.exec(text)?.[1]);
    expect(total(after.stdout)).toBe(rows.reduce((sum, r) => sum + Number(r[2]), 0));
    expect(total(after.stdout)).toBe(total(before.stdout) + 1);
  });
});

describe("nats CLI against the compose stack's authorization, as the client user", () => {
  let nats: ServerHandle;
  let cluster: LocalCluster;
  const cli = new NatsCli();

  beforeAll(async () => {
    nats = await startNats({ config: authConfig() });
    cluster = await startLocalCluster({
      env: { PAXOSKV_NATS_URL: nats.url, PAXOSKV_NATS_USER: NODE.user, PAXOSKV_NATS_PASSWORD: NODE.pass },
    });
    await Promise.all(["A", "B", "C"].map((id) => cluster.spawnNode(id)));
  });

  afterAll(async () => {
    await cluster?.stopNodes();
    cli.remove();
  });

  it("`nats context save paxoskv --server URL --user client --password ... --select`", async () => {
    const saved = await cli.run(["context", "save", "paxoskv", "--server", nats.url,
      "--user", CLIENT.user, "--password", CLIENT.pass, "--select"]);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toMatch(/Connection: OK/);
    expect(saved.stdout).toMatch(new RegExp(`Username: ${CLIENT.user}\\n +Password: \\*+\\n`));
    expect(existsSync(join(cli.configDir, "nats", "context", "paxoskv.json"))).toBe(true);
  });

  it("the client user creates and reads, and `nats micro ls` lists the three nodes", async () => {
    expect(replyBody(await cli.run(["req", "paxoskv.create.X", "3"])))
      .toBe('{"ok":true,"key":"X","value":"3","created":true}');
    expect(replyBody(await cli.run(["req", "paxoskv.get.X", ""])))
      .toBe('{"ok":true,"key":"X","found":true,"value":"3"}');
    expect(ids((await cli.run(["micro", "ls"])).stdout).size).toBe(3);
  });

  it("`nats pub paxoskv.paxos.prepare x`: refused, the CLI says so and exits 1", async () => {
    const pub = await cli.run(["pub", "paxoskv.paxos.prepare", "x"]);
    expect(pub.code).toBe(1);
    expect(pub.stdout).toBe("");
    expect(pub.stderr).toContain('nats: error: nats: permissions violation: ' +
      'Permissions Violation for Publish to "paxoskv.paxos.prepare"');
  });

  it("without a user, the server refuses the connection", async () => {
    const other = new NatsCli(); // no context
    try {
      const anonymous = await other.run(["req", "paxoskv.get.X", "", "--server", nats.url]);
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toContain("nats: error: nats: Authorization Violation");
    } finally {
      other.remove();
    }
  });
});
