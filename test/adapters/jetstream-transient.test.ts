import { JetStreamApiError } from "@nats-io/jetstream";
import {
  NoRespondersError, PermissionViolationError, RequestError, TimeoutError,
} from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { isTransientJetStreamError } from "../../src/adapters/jetstream/transient.js";

const apiError = (status: number, errCode: number, description: string) =>
  new JetStreamApiError({ code: status, err_code: errCode, description });

describe("transient JetStream errors", () => {
  it("transient - timeouts, no responders (also as a cause) and 503s are worth waiting for", () => {
    expect(isTransientJetStreamError(new TimeoutError())).toBe(true);
    expect(isTransientJetStreamError(new NoRespondersError("$JS.API.INFO"))).toBe(true);
    const noResponders = new RequestError("no responders",
      { cause: new NoRespondersError("$JS.API.STREAM.INFO.X") });
    expect(isTransientJetStreamError(noResponders)).toBe(true);
    expect(isTransientJetStreamError(new Error("jetstream is not enabled",
      { cause: noResponders }))).toBe(true);
    expect(isTransientJetStreamError(
      apiError(503, 10008, "JetStream system temporarily unavailable"))).toBe(true);
  });

  it("transient - a refusal is not: a permission, a conflicting stream, a plain error", () => {
    expect(isTransientJetStreamError(new PermissionViolationError("no", "publish",
      "$JS.API.>"))).toBe(false);
    expect(isTransientJetStreamError(apiError(400, 10058, "stream name already in use")))
      .toBe(false);
    expect(isTransientJetStreamError(new Error("timeout"))).toBe(false);
    expect(isTransientJetStreamError("timeout")).toBe(false);
  });
});
