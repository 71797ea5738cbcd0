/**
 * Security (matrix row E4): NATS with TLS and verified client certificates. Certificates are
 * made at test time with openssl in a temp dir: a CA, a server certificate for 127.0.0.1 and
 * localhost, a client certificate from that CA and one from another CA. A real nats-server
 * with `tls { ... verify: true }` refuses plaintext, TLS without a client certificate and a
 * certificate from the other CA; the valid certificate works, and paxoskv nodes started with
 * PAXOSKV_NATS_TLS_* serve a create and a get end to end, to the client library and the CLI.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaxosKvClient } from "../../src/client/client.js";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { ConfigError, loadConfig, loadNatsTls } from "../../src/node/infrastructure/config.js";
import { cleanup, startNats, type ServerHandle } from "./support/servers.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

let dir: string;
let nats: ServerHandle;
let cluster: LocalCluster | undefined;
const connections: NatsConnection[] = [];
const pem = (name: string) => join(dir, name);

/** A CA, certificates it signed (server, client), and a client certificate from another CA. */
function makeCertificates(into: string): void {
  const openssl = (...args: string[]) =>
    execFileSync("openssl", args, { cwd: into, stdio: "pipe" });
  const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const ca of ["ca", "other-ca"]) {
    openssl("req", "-x509", ...newKey, "-keyout", `${ca}.key`, "-out", `${ca}.pem`, "-days", "1",
      "-subj", `/CN=paxoskv test ${ca}`, "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  }
  const issue = (name: string, ca: string, extensions: string) => {
    writeFileSync(join(into, `${name}.ext`), extensions);
    openssl("req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`,
      "-subj", `/CN=paxoskv test ${name}`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`,
      "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
  };
  writeFileSync(join(into, "not-pem.txt"), "a certificate, honest\n");
  issue("server", "ca", "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n");
  issue("client", "ca", "extendedKeyUsage=clientAuth\n");
  issue("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
}

/** The server's TLS block: every client must show a certificate signed by `ca.pem`. */
function tlsConfig(): string {
  return `tls {
  cert_file: ${JSON.stringify(pem("server.pem"))}
  key_file: ${JSON.stringify(pem("server.key"))}
  ca_file: ${JSON.stringify(pem("ca.pem"))}
  verify: true
  timeout: 2
}
`;
}

const VALID = () =>
  ({ caFile: pem("ca.pem"), certFile: pem("client.pem"), keyFile: pem("client.key") });

const TLS_ENV = () => ({
  PAXOSKV_NATS_TLS_CA: pem("ca.pem"),
  PAXOSKV_NATS_TLS_CERT: pem("client.pem"),
  PAXOSKV_NATS_TLS_KEY: pem("client.key"),
});

async function tryConnect(options: Parameters<typeof connect>[0]): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, reconnect: false, timeout: 3000, ...options });
  connections.push(nc);
  return nc;
}

/**
 * A refused client certificate. Under TLS 1.3 the server checks it after the client's side of
 * the handshake is done, so the server's alert races its close: the client sees the alert
 * (`reason`, or "bad certificate") or, on a loaded machine, only the reset.
 */
const REFUSED_CLIENT = (reason: RegExp) =>
  new RegExp(`bad certificate|${reason.source}|ECONNRESET|socket hang up`, "i");

/** A refusal must be the certificate's, not a server that went away: the valid one connects. */
async function expectServerStillServes(): Promise<void> {
  const nc = await tryConnect({ tls: VALID() });
  await nc.flush();
}

/** Speaks plaintext NATS (CONNECT, PING); returns everything the server sent until it closed. */
function plaintextSession(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    let received = "";
    let sent = false;
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error(`the server kept a plaintext connection open; it sent: ${received}`));
    });
    socket.on("error", () => undefined); // a reset is a refusal too; "close" follows
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (!sent && received.includes("\r\n")) {
        sent = true;
        socket.write("CONNECT {\"verbose\":true}\r\nPUB tls.plain 2\r\nhi\r\nPING\r\n");
      }
    });
    socket.on("close", () => resolve(received));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "paxoskv-tls-"));
  makeCertificates(dir);
  nats = await startNats({ config: tlsConfig() });
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stopNodes();
  await cleanup();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("NATS TLS with verified client certificates (E4)", () => {
  it("E4: refuses a plaintext connection", async () => {
    const received = await plaintextSession(nats.port);
    // The server announces that TLS is required, then drops the plaintext CONNECT: no +OK for
    // the publish, no PONG.
    expect(received).toMatch(/^INFO \{.*"tls_required":true/);
    expect(received).not.toMatch(/\+OK|PONG/);
  });

  it("E4: refuses TLS without a client certificate", async () => {
    await expect(tryConnect({ tls: { caFile: pem("ca.pem") } }))
      .rejects.toThrow(REFUSED_CLIENT(/certificate required/));
    await expectServerStillServes();
  });

  it("E4: refuses a client certificate from another CA", async () => {
    await expect(tryConnect({
      tls: { caFile: pem("ca.pem"), certFile: pem("stranger.pem"), keyFile: pem("stranger.key") },
    })).rejects.toThrow(REFUSED_CLIENT(/unknown ca/));
    await expectServerStillServes();
  });

  it("E4: a client that does not trust the server's CA refuses the server", async () => {
    await expect(tryConnect({ tls: { certFile: pem("client.pem"), keyFile: pem("client.key") } }))
      .rejects.toThrow(/verify|self.signed|issuer/i);
  });

  it("E4: the valid client certificate works, by IP and by name", async () => {
    for (const servers of [nats.url, `nats://localhost:${nats.port}`]) {
      const nc = await tryConnect({ servers, tls: VALID() });
      const sub = nc.subscribe("tls.echo", { max: 1 });
      nc.publish("tls.echo", "over tls");
      for await (const m of sub) expect(m.string()).toBe("over tls");
      await nc.close();
    }
  });

  it("E4: nodes with PAXOSKV_NATS_TLS_* serve create and get; so does the CLI", async () => {
    // startLocalCluster's own NATS stays unused: every node is pointed at the TLS server.
    cluster = await startLocalCluster({
      acceptors: ["A", "B"], logLevel: "warn", env: { PAXOSKV_NATS_URL: nats.url, ...TLS_ENV() },
    });
    await Promise.all(["A", "B"].map((id) => cluster?.spawnNode(id)));

    const nc = await tryConnect({ tls: VALID() });
    const client = new PaxosKvClient(nc, { timeoutMs: 10_000 });
    expect(await client.create("tls.x", "3")).toEqual({ key: "tls.x", value: "3", created: true });
    expect(await client.create("tls.x", "7")).toEqual({ key: "tls.x", value: "3", created: false });
    expect(await client.get("tls.x")).toEqual({ key: "tls.x", found: true, value: "3" });

    const viaConnect = await PaxosKvClient.connect({ servers: nats.url, tls: VALID() });
    connections.push(viaConnect.nc);
    expect(await viaConnect.get("tls.x")).toEqual({ key: "tls.x", found: true, value: "3" });

    const cli = (args: string[], env: Record<string, string>) => promisify(execFile)(
      process.execPath, ["--import", "tsx", CLI, ...args],
      { env: { ...process.env, PAXOSKV_NATS_URL: nats.url, ...env }, timeout: 30_000 });
    const created = await cli(["create", "tls.cli", "7"], TLS_ENV());
    expect(JSON.parse(created.stdout)).toEqual({ key: "tls.cli", value: "7", created: true });
    expect(await client.get("tls.cli")).toEqual({ key: "tls.cli", found: true, value: "7" });
    // With a file that is not there it stops before connecting, naming the variable.
    await expect(cli(["get", "tls.cli"], { ...TLS_ENV(), PAXOSKV_NATS_TLS_KEY: pem("gone.key") }))
      .rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(
        /BAD_CONFIG: invalid configuration:\n {2}PAXOSKV_NATS_TLS_KEY: cannot read .*gone\.key/) });
  });
});

describe("config - PAXOSKV_NATS_TLS_*", () => {
  const base = { PAXOSKV_NODE_ID: "A" };

  it("config - no TLS variables: no TLS option (plaintext or tls:// URLs as before)", () => {
    expect(loadConfig(base).natsTls).toBeUndefined();
    expect(loadNatsTls({ PAXOSKV_NATS_TLS_CA: "" })).toBeUndefined();
  });

  it("config - the three files become nats.js tls file options", () => {
    expect(loadConfig({ ...base, ...TLS_ENV() }).natsTls).toEqual(VALID());
    expect(loadNatsTls({ PAXOSKV_NATS_TLS_CA: pem("ca.pem") })).toEqual({ caFile: pem("ca.pem") });
  });

  it.each([
    ["a missing file", { PAXOSKV_NATS_TLS_CA: "/nonexistent/ca.pem" },
      /PAXOSKV_NATS_TLS_CA: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/],
    ["a directory", { PAXOSKV_NATS_TLS_CA: "/" }, /PAXOSKV_NATS_TLS_CA: cannot read \/ \(EISDIR\)/],
    ["a file that is not PEM", { PAXOSKV_NATS_TLS_CA: "not-pem.txt" },
      /not-pem\.txt is not a PEM file/],
    ["a certificate without its key", { PAXOSKV_NATS_TLS_CERT: "client.pem" },
      /PAXOSKV_NATS_TLS_KEY: required with PAXOSKV_NATS_TLS_CERT/],
    ["a key without its certificate", { PAXOSKV_NATS_TLS_KEY: "client.key" },
      /PAXOSKV_NATS_TLS_CERT: required with PAXOSKV_NATS_TLS_KEY/],
  ])("config - refuses %s with a clear error", (_, vars, message) => {
    const env = Object.fromEntries(Object.entries(vars)
      .map(([k, v]) => [k, v.startsWith("/") ? v : pem(v)]));
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
    expect(() => loadNatsTls(env)).toThrow(message);
  });
});
