/**
 * What one chosen event per key costs a NATS server (issue: the chosen stream's cost per key).
 * `npm run bench:subjects -- --keys 1000000`: one nats-server (the pinned one, see
 * src/dev/servers.ts) with JetStream; N events of 20-byte values published into
 *   per-key:   the chosen stream's form, one subject per key, max_msgs_per_subject 1 with
 *              discard-new per subject (what makes a second value for a key impossible);
 *   bounded:   the same events under 64 subjects (a partition token), no per-subject limit;
 *   log:       the chosen log as nodes write it now: batches of `--batch` chosen events
 *              (`{"v":1,"items":[{"key","value","ballot"}...]}`) under 3 subjects (one per
 *              announcing node), no per-subject limit;
 * and the server's RSS after loading and after a restart, and the store's size on disk.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType,
} from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { encodeBatch } from "../protocol/wire.js";
import { cleanup, natsServerBinary, startNats, type ServerHandle } from "../dev/servers.js";

interface Row {
  readonly form: string;
  readonly keys: number;
  readonly rssStartMb: number;
  readonly rssLoadedMb: number;
  readonly rssRestartedMb: number;
  readonly diskMb: number;
  readonly publishSeconds: number;
}

function rssMb(port: number): number {
  const pid = execFileSync("pgrep", ["-f", `nats-server.* -p ${port}\\b`]).toString().trim()
    .split("\n")[0];
  const status = execFileSync("cat", [`/proc/${pid}/status`]).toString();
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function duMb(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else bytes += s.size;
    }
  };
  walk(dir);
  return bytes / 1e6;
}

type Form = "per-key" | "bounded" | "log";

async function measure(form: Form, keys: number, batch: number): Promise<Row> {
  const server: ServerHandle = await startNats();
  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "SUBJECTS", subjects: ["bench.>"], storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    ...(form === "per-key" ? {
      max_msgs_per_subject: 1, discard: DiscardPolicy.New, discard_new_per_subject: true,
    } : {}),
  });
  const js = jetstream(nc);
  const value = "v".repeat(20);
  const rssStartMb = rssMb(server.port);
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  const step = form === "log" ? batch : 1;
  for (let i = 0; i < keys; i += step) {
    const subject = form === "per-key" ? `bench.chosen.k${i}` :
      form === "bounded" ? `bench.log.${i % 64}` : `bench.log.${"ABC"[(i / step) % 3]}`;
    const body = form !== "log" ? value : encodeBatch(Array.from({ length: Math.min(step, keys - i) },
      (_, j) => ({ key: `k${i + j}`, value, ballot: `${1796554611805 + i + j}.A` })));
    const p = js.publish(subject, body).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 2000) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const publishSeconds = (performance.now() - started) / 1000;
  const rssLoadedMb = rssMb(server.port);
  await nc.close();
  await server.restart();
  const rssRestartedMb = rssMb(server.port);
  const diskMb = duMb(server.dir);
  await server.stop();
  return { form: form === "log" ? `log, ${batch} per message` : form, keys, rssStartMb, rssLoadedMb, rssRestartedMb, diskMb, publishSeconds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    keys: { type: "string", default: "1000000" }, batch: { type: "string", default: "16" },
    forms: { type: "string", default: "per-key,bounded,log" },
  } });
  const keys = Number(values.keys);
  const batch = Number(values.batch);
  const forms = values.forms.split(",") as Form[];
  const version = execFileSync(natsServerBinary(), ["--version"]).toString().trim();
  const rows: Row[] = [];
  try {
    for (const form of forms) rows.push(await measure(form, keys, batch));
  } finally {
    await cleanup();
  }
  console.log(`${version}, ${keys.toLocaleString("en")} events of 20-byte values\n`);
  console.log("| form | RSS start MB | RSS loaded MB | B per key loaded | RSS after restart MB | " +
    "B per key restarted | disk MB | publish s |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const perKey = (mb: number) => (((mb - r.rssStartMb) * 1024 * 1024) / r.keys).toFixed(0);
    console.log(`| ${r.form} | ${r.rssStartMb.toFixed(0)} | ${r.rssLoadedMb.toFixed(0)} | ` +
      `${perKey(r.rssLoadedMb)} | ${r.rssRestartedMb.toFixed(0)} | ${perKey(r.rssRestartedMb)} | ` +
      `${r.diskMb.toFixed(0)} | ${r.publishSeconds.toFixed(1)} |`);
  }
}

await main();
