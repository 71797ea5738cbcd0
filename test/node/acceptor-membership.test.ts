import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import type {
  AcceptorRegistry, Registration,
} from "../../src/adapters/jetstream/acceptor-registry.js";
import type { AcceptorStore, RestoredKey } from "../../src/adapters/ports.js";
import { AcceptorMembership } from "../../src/node/roles/acceptor-membership.js";
import type { AcceptorRole } from "../../src/node/roles/acceptor-role.js";
import { createLogger } from "../../src/node/infrastructure/logger.js";

/** NATS subscriptions by subject; `request` runs a callback as a message with a reply would. */
function fakeNats() {
  const callbacks = new Map<string, (err: unknown, msg: unknown) => void>();
  return {
    nc: {
      subscribe: (subject: string, opts: { callback: (err: unknown, msg: unknown) => void }) => {
        callbacks.set(subject, opts.callback);
        return { unsubscribe: () => callbacks.delete(subject) };
      },
    } as unknown as NatsConnection,
    request: (subject: string) => new Promise<unknown>((resolve) => {
      callbacks.get(subject)?.(null, { reply: "inbox", respond: (body: string) => {
        resolve(JSON.parse(body));
        return true;
      } });
    }),
  };
}

/** An empty store (its data lost) with a marker and a write counter. */
function fakeStore() {
  const s = {
    marker: null as string | null, keys: 0,
    acceptorId: "A",
    incarnation: () => Promise.resolve(s.marker),
    adoptIncarnation: (c: string) => Promise.resolve(s.marker ??= c),
    holdsState: () => Promise.resolve(s.keys > 0),
    parts: () => Promise.resolve([{ marker: s.marker, writes: 0 }]),
    retireIncarnation: () => Promise.resolve(false),
    serveAs: () => undefined,
    clear: () => Promise.resolve(),
    restore: (entries: readonly RestoredKey[], incarnation: string) => {
      s.keys = entries.length;
      s.marker = incarnation;
      return Promise.resolve();
    },
  };
  return s;
}

/** The registry; with `loseAcks`, a replace by a store's incarnation lands, then throws. */
function fakeRegistry(initial: string) {
  const r = {
    entry: { incarnation: initial, revision: 1, mark: 0, marks: [0] } as Registration | null,
    loseAcks: false,
    get: () => Promise.resolve(r.entry),
    register: () => Promise.resolve(false),
    replace: (_id: string, incarnation: string, revision: number) => {
      if (r.entry?.revision !== revision) return Promise.resolve(false);
      r.entry = { incarnation, revision: revision + 1, mark: 0, marks: [0] };
      if (r.loseAcks && !incarnation.startsWith("rejoining:")) {
        return Promise.reject(new Error("timeout: the acknowledgement was lost"));
      }
      return Promise.resolve(true);
    },
    unregister: () => Promise.resolve(false),
    watch: () => Promise.resolve(() => undefined),
  };
  return r;
}

describe("acceptor membership", () => {
  it("membership - a rejoin whose registration landed but whose acknowledgement was lost votes",
    async () => {
      const nats = fakeNats();
      const store = fakeStore();
      const registry = fakeRegistry("old");
      registry.loseAcks = true; // the rejoin's last step (not the placeholder) loses its ack
      let started = 0;
      const role = { start: () => started++, stop: () => Promise.resolve() };
      const membership = new AcceptorMembership({
        nc: nats.nc, prefix: "p", store: store as unknown as AcceptorStore,
        registry: registry as unknown as AcceptorRegistry, role: role as unknown as AcceptorRole,
        acceptors: ["A", "B", "C"], log: createLogger("A", "silent"), phaseTimeoutMs: 1,
        markIntervalMs: 60_000, leaseMs: 1,
      });
      await membership.start();
      expect(membership.voting).toBe(false); // lost-state: the store is empty, "old" registered
      membership.serveRejoin({
        listKeys: () => Promise.resolve([]), servedElsewhere: () => Promise.resolve(false),
        recover: () => Promise.reject(new Error("no keys to recover")),
      });
      const reply = await nats.request("p.paxos.rejoin.A") as { ok: boolean };
      expect(reply.ok).toBe(false); // the operator saw a failure...
      // ...but the store's new marker is the registered one, so the acceptor votes.
      expect(registry.entry?.incarnation).toBe(store.marker);
      expect(membership.voting).toBe(true);
      expect(started).toBe(1);
      await membership.stop();
    });
});
