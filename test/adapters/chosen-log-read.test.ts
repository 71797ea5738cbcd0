/**
 * Reading the chosen log's messages: batches under `<prefix>.log.<node>` (this version) and
 * single events under `<prefix>.chosen.<key>` (the form before it, still in upgraded streams).
 */
import { describe, expect, it } from "vitest";
import { chosenEventsOf } from "../../src/adapters/jetstream/chosen-log.js";
import { encodeBatch } from "../../src/protocol/wire.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const a = { key: "orders.1", value: "x", ballot: "1796554611805.A" };
const b = { key: "users.2", value: "{\"json\":true}\n", ballot: "0.fast", acceptors: ["A", "C"] };

describe("chosen log - reading messages", () => {
  it("a batch under the log's subject gives each of its events, in order", () => {
    expect(chosenEventsOf("paxoskv", "paxoskv.log.A", bytes(encodeBatch([a, b, a]))))
      .toEqual({ events: [a, b, a], malformed: [] });
  });

  it("a message of the old form (one event on paxoskv.chosen.<key>) gives its event", () => {
    expect(chosenEventsOf("paxoskv", "paxoskv.chosen.orders.1", bytes(JSON.stringify(a))))
      .toEqual({ events: [a], malformed: [] });
    // The prefix is the configured one.
    expect(chosenEventsOf("kv2", "kv2.chosen.orders.1", bytes(JSON.stringify(a))).events)
      .toEqual([a]);
  });

  it("a malformed event of a batch is skipped alone; the rest are read", () => {
    const body = `{"v":1,"items":[${JSON.stringify(a)},{"key":"k"},${JSON.stringify(b)}]}`;
    expect(chosenEventsOf("paxoskv", "paxoskv.log.B", bytes(body)))
      .toEqual({ events: [a, b], malformed: ["malformed chosen event 1 of a batch"] });
  });

  it("a body that is no batch, another wire version, or a foreign subject gives no event", () => {
    for (const [subject, body] of [
      ["paxoskv.log.A", "not json"],
      ["paxoskv.log.A", JSON.stringify(a)], // an event, not a batch
      ["paxoskv.log.A", JSON.stringify({ v: 2, items: [a] })],
      ["paxoskv.chosen.k", "{\"key\":1}"],
      ["other.log.A", encodeBatch([a])],
    ] as const) {
      const read = chosenEventsOf("paxoskv", subject, bytes(body));
      expect(read.events, `${subject} ${body}`).toEqual([]);
      expect(read.malformed, `${subject} ${body}`).toHaveLength(1);
    }
  });
});
