import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, onPath, track } from "../dev/servers.js";

/** A 3-member etcd cluster on loopback (Debian `etcd-server`), for comparison only. */
export interface EtcdCluster {
  readonly clientUrls: readonly string[];
}

export function etcdAvailable(): boolean {
  return onPath("etcd");
}

export async function startEtcdCluster(members = 3): Promise<EtcdCluster> {
  const names = Array.from({ length: members }, (_, i) => `e${i + 1}`);
  const ports = await Promise.all(names.map(async () => ({
    client: await freePort(), peer: await freePort(),
  })));
  const initial = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]?.peer}`).join(",");
  const clientUrls = ports.map((p) => `http://127.0.0.1:${p.client}`);
  names.forEach((name, i) => {
    const dir = mkdtempSync(join(tmpdir(), `paxoskv-etcd-${name}-`));
    const port = ports[i] as { client: number; peer: number };
    const child: ChildProcess = spawn("etcd", [
      "--name", name, "--data-dir", dir,
      "--listen-client-urls", clientUrls[i] as string, "--advertise-client-urls", clientUrls[i] as string,
      "--listen-peer-urls", `http://127.0.0.1:${port.peer}`,
      "--initial-advertise-peer-urls", `http://127.0.0.1:${port.peer}`,
      "--initial-cluster", initial, "--initial-cluster-state", "new", "--log-level", "error",
    ], { stdio: "ignore" });
    track({
      destroy: async () => { child.kill("SIGKILL"); rmSync(dir, { recursive: true, force: true }); },
      destroySync: () => { child.kill("SIGKILL"); rmSync(dir, { recursive: true, force: true }); },
    });
  });
  const deadline = Date.now() + 30_000;
  for (const url of clientUrls) {
    for (;;) {
      const healthy = await fetch(`${url}/health`).then((r) => r.ok, () => false);
      if (healthy) break;
      if (Date.now() > deadline) throw new Error(`etcd at ${url} did not become healthy`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { clientUrls };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** etcd's create-if-absent: a txn comparing create_revision to 0, through the JSON gateway. */
export async function etcdCreate(url: string, key: string, value: string): Promise<boolean> {
  const body = {
    compare: [{ key: b64(key), target: "CREATE", create_revision: "0" }],
    success: [{ request_put: { key: b64(key), value: b64(value) } }],
    failure: [{ request_range: { key: b64(key) } }],
  };
  const res = await fetch(`${url}/v3/kv/txn`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd txn failed: ${res.status}`);
  const json = (await res.json()) as { succeeded?: boolean };
  return json.succeeded === true;
}
