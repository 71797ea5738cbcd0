/**
 * The page's script is the TypeScript of src/ui/page/, bundled into a committed string (so
 * tsx and dist/ serve it alike): these checks keep that string the bundle of the source, and
 * pin what the browser test and the server rely on.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundlePage, readCommittedBundle } from "../../scripts/build-page.js";
import { SERVICE_NAME } from "../../src/node/roles/start-client-endpoints.js";
import { UI_SERVICE_NAME } from "../../src/ui/cluster.js";
import { PAGE_HTML } from "../../src/ui/page.js";
import { PAGE_SCRIPT } from "../../src/ui/page-bundle.generated.js";
import { validatePattern } from "../../src/ui/trace-feed.js";

describe("page - the inlined front end", () => {
  it("page - the committed bundle is the bundle of src/ui/page/ (npm run build:page)", async () => {
    expect(readCommittedBundle(), "src/ui/page-bundle.generated.ts is stale: npm run build:page")
      .toBe(await bundlePage());
    expect(() => new Function(PAGE_SCRIPT)).not.toThrow();
  });

  it("page - the HTML inlines the style and the script, and has every element the script uses", () => {
    expect(PAGE_HTML).toContain(PAGE_SCRIPT);
    expect(PAGE_HTML).not.toMatch(/<script src=|<link rel="stylesheet"/);
    const dir = join(process.cwd(), "src/ui/page");
    const source = readdirSync(dir).filter((f) => f.endsWith(".ts"))
      .map((f) => readFileSync(join(dir, f), "utf8")).join("\n");
    const ids = [...source.matchAll(/\$(?:<\w+>)?\("([\w-]+)"\)/g)].map((m) => m[1] as string);
    expect(ids.length).toBeGreaterThan(20);
    for (const id of new Set(ids)) expect(PAGE_HTML, id).toContain(`id="${id}"`);
  });

  it("page - the cluster view asks $SRV about the service the nodes register", () => {
    expect(UI_SERVICE_NAME).toBe(SERVICE_NAME);
  });
});

describe("page - trace patterns", () => {
  it.each(["race.>", ">", "X", "orders.*.eu", "*", "a.b.c"])("accepts %s", (pattern) => {
    expect(validatePattern(pattern)).toBeNull();
  });

  it.each(["", "a.>.b", "a..b", "a b", "race.>x"])("refuses %j", (pattern) => {
    expect(validatePattern(pattern)).not.toBeNull();
  });
});
