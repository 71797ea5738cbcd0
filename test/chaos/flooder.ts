/**
 * The flood of `npm run chaos:flood`, in a process of its own so that the measured client's
 * event loop does not also run the flood's callbacks. Fires `rate` creates per second on fresh
 * keys for `seconds`, not waiting for replies, then waits for them (10 s each). Prints
 * `flooding` when the first requests leave, then the outcomes as one JSON line:
 * `{"sent":N,"outcomes":{"ok":N,"UNAVAILABLE":N,...}}`.
 * Usage: tsx test/chaos/flooder.ts <nats-urls> <prefix> <rate> <seconds>
 */
import { connect } from "@nats-io/transport-node";

const [urls = "", prefix = "paxoskv", rateText = "10000", secondsText = "20"] =
  process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);

const nc = await connect({ servers: urls.split(",") });
const outcomes = new Map<string, number>();
const count = (key: string): void => {
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
};
const pending: Promise<void>[] = [];
let sent = 0;
console.log("flooding");
const started = performance.now();
const until = started + seconds * 1000;
while (performance.now() < until) {
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  for (; sent < due; sent++) {
    pending.push(nc.request(`${prefix}.create.flood.x.${sent}`, "v", { timeout: 10_000 }).then(
      (m) => {
        const body = m.json<{ ok: boolean; error?: { code: string } }>();
        count(body.ok ? "ok" : body.error?.code ?? "error");
      },
      (err: unknown) => count(err instanceof Error ? err.name : "error")));
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await Promise.all(pending);
console.log(JSON.stringify({ sent, outcomes: Object.fromEntries(outcomes) }));
await nc.close();
