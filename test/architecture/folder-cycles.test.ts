/**
 * The folders of src/ form a layered graph: no folder imports, directly or through others, a
 * folder that imports it back. A cycle (node ↔ ui was one) means neither side can be read,
 * tested or changed without the other. Edges come from the relative imports of every
 * src/**\/*.ts (static, `export … from`, `import type`, and dynamic `import()`).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The top folder of src/ a file lives in ("." for src/index.ts itself). */
function folderOf(file: string): string {
  const parts = relative(SRC, file).split(sep);
  return parts.length > 1 ? parts[0]! : ".";
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Folder → folder → one file import that makes the edge (for the message). */
function folderGraph(files: readonly string[], read: (file: string) => string): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of files) {
    const from = folderOf(file);
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const match of read(file).matchAll(IMPORT)) {
      const spec = match[1] ?? match[2]!;
      if (!spec.startsWith(".")) continue;
      const to = folderOf(resolve(dirname(file), spec));
      if (to !== from && !edges.has(to)) edges.set(to, `${relative(SRC, file)} imports ${spec}`);
    }
  }
  return graph;
}

/** Every cycle of folders, each as its chain of import evidence (empty when acyclic). */
function folderCycles(graph: Map<string, Map<string, string>>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (folder: string): void => {
    state.set(folder, "open");
    path.push(folder);
    for (const next of graph.get(folder)?.keys() ?? []) {
      if (state.get(next) === "open") {
        const loop = [...path.slice(path.indexOf(next)), next];
        cycles.push(loop.slice(1).map((to, i) => `${loop[i]} → ${to}: ${graph.get(loop[i]!)!.get(to)!}`));
      } else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(folder, "done");
  };
  for (const folder of [...graph.keys()].sort()) if (!state.has(folder)) visit(folder);
  return cycles;
}

describe("folder-cycles", () => {
  it("folder-cycles - no two folders of src/ import each other, directly or through others", () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(50);
    const graph = folderGraph(files, (file) => readFileSync(file, "utf8"));
    expect(folderCycles(graph)).toEqual([]);
  });

  it("folder-cycles - a planted cycle through three folders is reported with its imports", () => {
    const fake: Record<string, string> = {
      [join(SRC, "a/x.ts")]: 'import { y } from "../b/y.js";',
      [join(SRC, "b/y.ts")]: 'export { z } from "../c/z.js";',
      [join(SRC, "c/z.ts")]: 'const a = await import("../a/x.js");',
      [join(SRC, "d/w.ts")]: 'import type { Y } from "../b/y.js";\nimport { q } from "./q.js";',
    };
    const cycles = folderCycles(folderGraph(Object.keys(fake), (file) => fake[file]!));
    expect(cycles).toEqual([[
      'a → b: a/x.ts imports ../b/y.js',
      'b → c: b/y.ts imports ../c/z.js',
      'c → a: c/z.ts imports ../a/x.js',
    ]]);
  });
});
