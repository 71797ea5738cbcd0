/**
 * The page is plain browser JavaScript kept in TypeScript strings (so dist/ serves it too):
 * these checks catch a syntax slip before the browser test does, and pin what the browser
 * test and the server rely on.
 */
import { describe, expect, it } from "vitest";
import { SERVICE_NAME } from "../../src/node/node.js";
import { UI_SERVICE_NAME } from "../../src/ui/cluster.js";
import { PAGE_HTML } from "../../src/ui/page.js";
import { PAGE_SCRIPT } from "../../src/ui/page-script.js";
import { validatePattern } from "../../src/ui/trace-feed.js";

describe("page - the inlined front end", () => {
  it("page - the script parses as JavaScript", () => {
    expect(() => new Function(PAGE_SCRIPT)).not.toThrow();
  });

  it("page - the HTML inlines the style and the script, and has every element the script uses", () => {
    expect(PAGE_HTML).toContain(PAGE_SCRIPT);
    expect(PAGE_HTML).not.toMatch(/<script src=|<link rel="stylesheet"/);
    const ids = [...PAGE_SCRIPT.matchAll(/\$\("([\w-]+)"\)/g)].map((m) => m[1] as string);
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
