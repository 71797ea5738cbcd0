import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
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
});
