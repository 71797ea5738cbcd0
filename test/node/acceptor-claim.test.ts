import { describe, expect, it } from "vitest";
import type { Registration } from "../../src/adapters/jetstream/acceptor-registry.js";
import { claimAcceptor } from "../../src/node/acceptor-membership.js";

/** A store's marker and whether it holds keys, as the claim sees them. */
function store(marker: string | null, holdsState = false) {
  const s = {
    acceptorId: "A", marker,
    incarnation: () => Promise.resolve(s.marker),
    adoptIncarnation: (candidate: string) => Promise.resolve(s.marker ??= candidate),
    holdsState: () => Promise.resolve(holdsState),
  };
  return s;
}

/** The registry bucket; `racer` registers first on the first `register` call (a lost race). */
function registry(initial: string | null, racer: string | null = null) {
  const r = {
    value: initial, revision: 1,
    get: (): Promise<Registration | null> => Promise.resolve(r.value === null ? null :
      { incarnation: r.value, revision: r.revision }),
    register: (_id: string, incarnation: string): Promise<boolean> => {
      if (racer !== null && r.value === null) r.value = racer;
      if (r.value !== null) return Promise.resolve(false);
      r.value = incarnation;
      return Promise.resolve(true);
    },
  };
  return r;
}

const next = () => "fresh";

describe("acceptor claim", () => {
  it("claim - a new store in a new cluster registers a new incarnation and votes", async () => {
    const s = store(null);
    const r = registry(null);
    expect(await claimAcceptor(s, r, next)).toEqual({ kind: "voting", incarnation: "fresh" });
    expect([s.marker, r.value]).toEqual(["fresh", "fresh"]);
  });

  it("claim - a restart with the registered store votes", async () => {
    expect(await claimAcceptor(store("i1"), registry("i1"), next))
      .toEqual({ kind: "voting", incarnation: "i1" });
  });

  it("claim - a store with state from before markers gets one and registers it", async () => {
    const s = store(null, true);
    expect(await claimAcceptor(s, registry(null), next))
      .toEqual({ kind: "voting", incarnation: "fresh" });
  });

  it("claim - an empty store for a registered ID lost its state: it does not vote", async () => {
    const s = store(null);
    expect(await claimAcceptor(s, registry("i1"), next))
      .toEqual({ kind: "lost-state", registered: "i1" });
    expect(s.marker).toBeNull(); // nothing written: a restart still sees the loss
  });

  it("claim - a store with another incarnation is another Redis: it does not vote", async () => {
    expect(await claimAcceptor(store("i2"), registry("i1"), next))
      .toEqual({ kind: "other-store", own: "i2", registered: "i1" });
    // Also a store with state but no marker, when the ID is registered elsewhere.
    expect(await claimAcceptor(store(null, true), registry("i1"), next))
      .toEqual({ kind: "other-store", own: "fresh", registered: "i1" });
  });

  it("claim - two new processes with two new stores: the one registered second does not vote",
    async () => {
      expect(await claimAcceptor(store(null), registry(null, "other"), next))
        .toEqual({ kind: "other-store", own: "fresh", registered: "other" });
    });
});
