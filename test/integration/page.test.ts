/**
 * The web page in a real browser: Debian's Chromium, driven by playwright-core, against nodes
 * A, B, C. Loads `/`, checks the cluster view, presses "Race" and checks the sequence diagram
 * shows both clients' proposals and exactly one chosen value; then replays a simulator export.
 * Screenshots go to test-artifacts/. Without Chromium this fails (it does not skip): CI
 * installs it (`.ci/run`), and so can you: `apt-get install -y chromium`.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalCluster, type LocalCluster } from "../../src/dev/cluster.js";
import { exportSeed } from "../sim/run-seeds.js";
import { cleanup, freePort } from "./support/servers.js";

const CHROMIUM = process.env.PAXOSKV_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(process.cwd(), "test-artifacts");
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
  "--disable-background-networking", "--disable-quic", "--no-first-run",
  "--disable-component-update", "--disable-sync"];

let cluster: LocalCluster;
let context: BrowserContext | undefined;
let page: Page;
let profile: string | undefined;
let port = 0;
const browserErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not at ${CHROMIUM}: the page test needs a real browser. ` +
      "Install it with `apt-get install -y chromium` (.ci/run does), or point " +
      "PAXOSKV_CHROMIUM at one.");
  }
  cluster = await startLocalCluster({ logLevel: "warn" });
  const ports = await Promise.all(["A", "B", "C"].map(() => freePort()));
  port = ports[0] as number;
  await Promise.all(["A", "B", "C"].map((id, i) => cluster.spawnNode(id, undefined, {
    PAXOSKV_HTTP_PORT: String(ports[i]), PAXOSKV_REQUEST_TIMEOUT_MS: "8000",
  })));
  mkdirSync(ARTIFACTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), "paxoskv-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 1000 }, timeout: 30_000,
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on("pageerror", (err) => browserErrors.push(err.message));
  page.on("console", (msg) => { if (msg.type() === "error") browserErrors.push(msg.text()); });
});

afterAll(async () => {
  await context?.close();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  await cluster?.stopNodes();
  await cleanup();
});

describe("page - the web page in headless Chromium", () => {
  it("page - shows the cluster: nodes A, B, C and every acceptor up", async () => {
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector("#nodes-body tr[data-node='C']");
    expect(await page.locator("#nodes-body tr[data-node]").count()).toBe(3);
    for (const id of ["A", "B", "C"]) {
      expect(await page.getAttribute(`[data-acceptor='${id}']`, "data-up")).toBe("true");
      // Voting, as each acceptor's beat says (a fenced one would be up and not voting).
      await expect.poll(() => page.getAttribute(`[data-acceptor='${id}']`, "data-voting"),
        { timeout: 10_000 }).toBe("voting");
    }
    await expect.poll(() => page.textContent("#acceptors")).toMatch(/3 of 3 voting/);
    await expect.poll(() => page.textContent("#self")).toMatch(/node A .*ready/);
    await expect.poll(() => page.textContent("#stream")).toMatch(/PAXOSKV_CHOSEN/);
    await page.waitForSelector("#trace-status:has-text('tracing race.>')");
  });

  it("page - Race draws both proposals and exactly one chosen value", async () => {
    await page.click("#race");
    await page.waitForSelector("#race-result[data-key]", { timeout: 30_000 });
    const key = await page.getAttribute("#race-result", "data-key") as string;
    expect(key).toMatch(/^race\.\d+/);
    const rows = (kind: string) => page.locator(`#diagram g.ev[data-key='${key}'][data-kind='${kind}']`);
    // The diagram is complete once both clients' replies are drawn.
    await expect.poll(() => rows("reply").count(), { timeout: 10_000 }).toBe(2);

    // Both proposals: client 1's create of 3 and client 2's create of 7, each opened by a
    // Prepare, or by an Accept at the fast ballot when its node was warm (a fast round).
    const requested = await rows("request").evaluateAll((gs) =>
      gs.map((g) => g.getAttribute("data-value")).sort());
    expect(requested).toEqual(["3", "7"]);
    const senders = async () => [
      ...await rows("prepare").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-from"))),
      ...await rows("accept").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-from"))),
    ];
    expect((await senders()).length).toBeGreaterThanOrEqual(1);
    const raceText = await page.textContent("#race-result") ?? "";
    if (/duelled/.test(raceText)) {
      // Two nodes ran a proposal each: two proposer lanes sent a Prepare or an Accept.
      expect(new Set(await senders()).size).toBe(2);
    }

    // Exactly one chosen value, highlighted, and it is what both clients were told.
    const chosen = await rows("chosen").evaluateAll((gs) =>
      [...new Set(gs.map((g) => g.getAttribute("data-value")))]);
    expect(chosen).toHaveLength(1);
    const value = chosen[0] as string;
    expect(["3", "7"]).toContain(value);
    expect(await page.getAttribute("#chosen", "data-value")).toBe(value);
    expect(await page.textContent("#chosen")).toContain(`${key} = ${value}`);
    expect(raceText).toContain(`client 1 proposed 3 → chosen ${value}`);
    expect(raceText).toContain(`client 2 proposed 7 → chosen ${value}`);
    // The replies' labels come from their typed fields: one client's value was created.
    const replies = await rows("reply").evaluateAll((gs) => gs.map((g) => g.textContent ?? "").sort());
    expect(replies.filter((text) => text.includes(`reply ${value} ✓ created`))).toHaveLength(1);
    expect(replies.filter((text) => text.includes(`reply ${value} (not created)`))).toHaveLength(1);
    // Lanes: the two clients, the proposers, and acceptors A, B, C.
    expect(await page.locator(".lanes-head .lane-client").count()).toBe(2);
    expect(await page.locator(".lanes-head .lane-acceptor").count()).toBe(3);

    // The cluster view (polled every 2 s) has caught up with the race: the stream holds it.
    await expect.poll(() => page.textContent("#stream"), { timeout: 10_000 })
      .not.toMatch(/: 0 chosen/);
    await page.screenshot({ path: join(ARTIFACTS, "page.png"), fullPage: true });
  });

  it("page - replays a simulator export step by step", async () => {
    const run = exportSeed(6);
    const file = join(ARTIFACTS, "sim-seed-6.json");
    writeFileSync(file, JSON.stringify(run));
    await page.click("#tab-replay");
    await page.setInputFiles("#file", file);
    await page.waitForSelector("#replay-controls:not(.hidden)");
    expect(await page.textContent("#replay-info")).toContain("simulator seed 6");
    expect(await page.textContent("#replay-pos")).toBe(`1 / ${run.events.length}`);
    for (let i = 0; i < 5; i++) await page.click("#next");
    expect(await page.textContent("#replay-pos")).toBe(`6 / ${run.events.length}`);
    expect(await page.locator("#replay-diagram g.ev:visible").count()).toBe(6);
    await page.click("#last");
    const chosenValues = new Set(run.events.filter((e) => e.kind === "chosen")
      .map((e) => `${e.key}=${e.value ?? ""}`));
    const banner = await page.textContent("#replay-chosen") ?? "";
    for (const kv of chosenValues) expect(banner).toContain(kv.replace("=", " = "));
    expect(await page.locator("#replay-diagram g.ev-fault").count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, "replay.png"), fullPage: true });
    expect(browserErrors).toEqual([]);
  });

  it("page - the race (it creates keys) is refused where PAXOSKV_PAGE_RACE is not on", async () => {
    const other = await freePort();
    await cluster.spawnNode("L", "learner", { PAXOSKV_HTTP_PORT: String(other),
      PAXOSKV_PAGE_RACE: "false" });
    const refused = await fetch(`http://127.0.0.1:${other}/api/race`, { method: "POST",
      headers: { "content-type": "application/json" }, body: "{}" });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ ok: false, error: /PAXOSKV_PAGE_RACE/ });
    const status = await (await fetch(`http://127.0.0.1:${other}/api/cluster`)).json();
    expect(status).toMatchObject({ race: false });
    await page.goto(`http://127.0.0.1:${other}/`);
    await expect.poll(() => page.isHidden("#race")).toBe(true);
  });
});
