import { JetStreamApiError } from "@nats-io/jetstream";
import { NoRespondersError, RequestError, TimeoutError } from "@nats-io/transport-node";

/**
 * Whether `err` says JetStream is not answering yet rather than refusing: a request timed out
 * or had no responders (the server is restarting, or a stream or the meta group is electing a
 * leader), or the API answered 503 ("temporarily unavailable"). Worth waiting for at start;
 * anything else (a permission, a conflicting stream) is not.
 */
export function isTransientJetStreamError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    // "JetStream not enabled" is how the client reads no responders on the API: its cause.
    if (e instanceof TimeoutError || e instanceof NoRespondersError) return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
    // `status` is the API's HTTP-like code; `code` is its JetStream error number (10008 here).
    if (e instanceof JetStreamApiError && e.status === 503) return true;
  }
  return false;
}
