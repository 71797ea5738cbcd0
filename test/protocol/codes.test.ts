import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { randomInt, seededRandom } from "../../src/core/random.js";
import { ERROR_CODES } from "../../src/protocol/codes.js";
import { ErrorReplySchema, errorReply } from "../../src/protocol/replies.js";
import { validateKey } from "../../src/protocol/subjects.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("codes - one catalogue, documented and on the wire", () => {
  it.each(ERROR_CODES)("codes - %s is in the README's table and the reply schema", (code) => {
    expect(readme).toContain(`| \`${code}\` |`);
    expect(ErrorReplySchema.safeParse(errorReply(code, "m")).success).toBe(true);
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
