import { describe, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type {
  MsgAccept, MsgAccepted, MsgNack, MsgPrepare, MsgPromise, MsgRead, MsgReadReply,
} from "../../src/core/messages.js";
import type {
  MsgAcceptedSchema, MsgAcceptSchema, MsgNackSchema, MsgPrepareSchema, MsgPromiseSchema,
  MsgReadReplySchema, MsgReadSchema,
} from "../../src/protocol/wire.js";

// The wire schemas validate exactly what the core's message types describe: a schema that
// drifts from its core type fails the type-check (npm test runs tsc first).
describe("wire - schemas match the core's message types", () => {
  it("prepare, promise, accept, accepted, nack, read, read-reply", () => {
    expectTypeOf<z.infer<typeof MsgPrepareSchema>>().toEqualTypeOf<DeepMutable<MsgPrepare>>();
    expectTypeOf<z.infer<typeof MsgPromiseSchema>>().toEqualTypeOf<DeepMutable<MsgPromise>>();
    expectTypeOf<z.infer<typeof MsgAcceptSchema>>().toEqualTypeOf<DeepMutable<MsgAccept>>();
    expectTypeOf<z.infer<typeof MsgAcceptedSchema>>().toEqualTypeOf<DeepMutable<MsgAccepted>>();
    expectTypeOf<z.infer<typeof MsgNackSchema>>().toEqualTypeOf<DeepMutable<MsgNack>>();
    expectTypeOf<z.infer<typeof MsgReadSchema>>().toEqualTypeOf<DeepMutable<MsgRead>>();
    expectTypeOf<z.infer<typeof MsgReadReplySchema>>().toEqualTypeOf<DeepMutable<MsgReadReply>>();
  });
});

type DeepMutable<T> = T extends object ? { -readonly [K in keyof T]: DeepMutable<T[K]> } : T;
