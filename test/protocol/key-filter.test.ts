/** PAXOSKV_REPLICA_KEYS: a learner keeps the keys its filter matches, as NATS matches them. */
import { describe, expect, it } from "vitest";
import { keyMatchesFilter } from "../../src/protocol/subjects.js";

describe("subjects - key filter", () => {
  it.each<[string, string, boolean]>([
    [">", "anything.at.all", true],
    ["orders.>", "orders.1", true],
    ["orders.>", "orders.eu.1", true],
    ["orders.>", "orders", false], // > needs at least one token, as in NATS
    ["orders.>", "ordersx.1", false],
    ["orders.>", "users.1", false],
    ["*.eu", "orders.eu", true],
    ["*.eu", "orders.eu.1", false],
    ["*.eu", "eu", false],
    ["orders.*.x", "orders.1.x", true],
    ["orders.*.x", "orders.1.y", false],
    ["k", "k", true],
    ["k", "k.1", false],
  ])("subjects - filter %s, key %s: %s", (filter, key, match) => {
    expect(keyMatchesFilter(filter, key)).toBe(match);
  });
});
