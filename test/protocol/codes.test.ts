import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { randomInt, seededRandom } from "../../src/core/random.js";
import { ERROR_CODES, OPERATOR_CODES, OperatorCode } from "../../src/protocol/codes.js";
import { ErrorReplySchema, errorReply } from "../../src/protocol/replies.js";
import { validateKey } from "../../src/protocol/subjects.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const operations = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Where a code is written as a string instead of taken from the catalogue. */
function codesBornOutside(files: readonly string[], read: (file: string) => string): string[] {
  const known = new Set<string>([...ERROR_CODES, ...OPERATOR_CODES]);
  const found: string[] = [];
  for (const file of files) {
    const lines = read(file).split("\n");
    lines.forEach((line, i) => {
      if (/^\s*(\*|\/\*|\/\/)/.test(line)) return; // comments may name a code
      const at = `${relative(SRC, file)}:${i + 1}`;
      // A code field set from a literal, e.g. `code = "NOPE"` or `code: "UNAVAILABLE"`.
      for (const m of line.matchAll(/\bcode\s*[:=]\s*["'`]([A-Z][A-Z_]+)["'`]/g)) found.push(`${at} ${m[1]}`);
      // A catalogue code written out anywhere else.
      for (const m of line.matchAll(/["'`]([A-Z][A-Z_]+)["'`]/g)) {
        if (known.has(m[1]!) && !/\bcode\s*[:=]/.test(line)) found.push(`${at} ${m[1]}`);
      }
    });
  }
  return found;
}

describe("codes - one catalogue, documented and on the wire", () => {
  it.each(ERROR_CODES)("codes - %s is in the README's table and the reply schema", (code) => {
    expect(readme).toContain(`| \`${code}\` |`);
    expect(ErrorReplySchema.safeParse(errorReply(code, "m")).success).toBe(true);
  });

  it.each(OPERATOR_CODES)("codes - operator code %s is in docs/operations.md's table", (code) => {
    expect(operations).toContain(`| \`${code}\` |`);
    expect(ERROR_CODES).not.toContain(code);
  });

  it("codes - every code in src/ comes from the catalogue, none is written out elsewhere", () => {
    // src/cli/main.ts checks the runtime before anything loads, so it cannot import codes.ts.
    const entry = join(SRC, "cli", "main.ts");
    expect(readFileSync(entry, "utf8")).toContain(`var WRONG_RUNTIME = "${OperatorCode.WRONG_RUNTIME}";`);
    const files = sourceFiles(SRC)
      .filter((file) => !file.endsWith(join("protocol", "codes.ts")) && file !== entry);
    expect(files.length).toBeGreaterThan(50);
    expect(codesBornOutside(files, (file) => readFileSync(file, "utf8"))).toEqual([]);
  });

  it("codes - the scan finds a code born outside the catalogue", () => {
    const fake: Record<string, string> = {
      [join(SRC, "x/a.ts")]: 'class E extends Error { readonly code = "NOPE"; }',
      [join(SRC, "x/b.ts")]: 'log.warn({ code: "UNAVAILABLE" }, "down");\nconst c = "INTERNAL";',
      [join(SRC, "x/c.ts")]: 'log.warn({ code: ErrorCode.UNAVAILABLE }, "FINE");\n * `TIMEOUT` in a comment',
    };
    expect(codesBornOutside(Object.keys(fake), (file) => fake[file]!)).toEqual([
      "x/a.ts:1 NOPE", "x/b.ts:1 UNAVAILABLE", "x/b.ts:2 INTERNAL",
    ]);
  });

  it("codes - the reply schema refuses a code outside the catalogue", () => {
    const reply = { ok: false, error: { code: "NOPE", message: "m" } };
    expect(ErrorReplySchema.safeParse(reply).success).toBe(false);
  });
});

describe("subjects - validateKey follows DESIGN.md", () => {
  it.each(["X", "a.b.c", "A-Z_0-9=:", "k".repeat(255), "users.42.name"])(
    "subjects - accepts %s", (key) => expect(validateKey(key)).toBeNull());
  it.each(["", "a..b", ".a", "a.", "a b", "héllo", "a*b", "a>b", "a$b", "k".repeat(256)])(
    "subjects - refuses %j", (key) => expect(validateKey(key)).not.toBeNull());

  it("subjects - the one-pattern fast path agrees with the rule token by token", () => {
    // The rule as DESIGN.md states it, written plainly: a reference for the fast path.
    const valid = (key: string) => key.length > 0 && Buffer.byteLength(key) <= 255 &&
      key.split(".").every((t) => /^[A-Za-z0-9_\-=:]+$/.test(t));
    const random = seededRandom(3);
    const alphabet = ["a", "Z", "0", "_", "-", "=", ":", ".", ".", " ", "é", "*", "$", "\n"];
    for (let n = 0; n < 20_000; n++) {
      // Short keys from the whole alphabet; keys around the 255-byte limit, one letter changed.
      const long = randomInt(random, 8) === 0;
      const length = long ? 250 + randomInt(random, 10) : randomInt(random, 8);
      const chars = Array.from({ length }, () => long ? "k" :
        alphabet[randomInt(random, alphabet.length)] as string);
      const letter = alphabet[randomInt(random, alphabet.length)] as string;
      if (long) chars[randomInt(random, length)] = letter;
      const key = chars.join("");
      expect(validateKey(key) === null, JSON.stringify(key)).toBe(valid(key));
    }
  });
});
