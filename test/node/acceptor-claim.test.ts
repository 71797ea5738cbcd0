import { describe, expect, it } from "vitest";
import type { Registration } from "../../src/adapters/jetstream/acceptor-registry.js";
import type { StorePart } from "../../src/adapters/ports.js";
import { claimAcceptor, marksOf, partBehind } from "../../src/node/roles/acceptor-membership.js";

/** A store's marker, whether it holds keys and its write counter, as the claim sees them. */
function store(marker: string | null, holdsState = false, writes = 0) {
  const s = {
    acceptorId: "A", marker, writes,
    incarnation: () => Promise.resolve(s.marker),
    adoptIncarnation: (candidate: string) => Promise.resolve(s.marker ??= candidate),
    holdsState: () => Promise.resolve(holdsState),
    parts: () => Promise.resolve([{ marker: s.marker, writes: s.writes }]),
    retireIncarnation: (incarnation: string, replacement: string) => {
      if (s.marker !== incarnation) return Promise.resolve(false);
      s.marker = replacement;
      return Promise.resolve(true);
    },
  };
  return s;
}

/** The registry bucket; `racer` registers first on the first `register` call (a lost race). */
function registry(initial: string | null, racer: string | null = null, initialMark = 0) {
  const r = {
    value: initial, revision: 1, mark: initialMark,
    get: (): Promise<Registration | null> => Promise.resolve(r.value === null ? null :
      { incarnation: r.value, revision: r.revision, mark: r.mark, marks: [r.mark] }),
    register: (_id: string, incarnation: string, marks: readonly number[] = [0]):
      Promise<boolean> => {
      if (racer !== null && r.value === null) r.value = racer;
      if (r.value !== null) return Promise.resolve(false);
      r.value = incarnation;
      r.mark = marks[0] ?? 0;
      return Promise.resolve(true);
    },
  };
  return r;
}

const next = () => "fresh";

describe("acceptor claim", () => {
  it("claim - a new store in a new cluster registers nothing: it recovers first", async () => {
    const s = store(null);
    const r = registry(null);
    expect(await claimAcceptor(s, r, next)).toEqual({ kind: "new-store" });
    expect([s.marker, r.value]).toEqual([null, null]);
  });

  it("claim - a restart with the registered store votes", async () => {
    expect(await claimAcceptor(store("i1", true, 7), registry("i1", null, 7), next))
      .toEqual({ kind: "voting", incarnation: "i1", reregistered: false });
  });

  it("claim - a store of many parts (no adoption) holding keys without markers never votes: " +
    "it recovers (new store) or is found lost (registered)", async () => {
    const many = () => Object.assign(store(null, true), { adoptIncarnation: undefined });
    expect(await claimAcceptor(many(), registry(null), next)).toEqual({ kind: "new-store" });
    expect(await claimAcceptor(many(), registry("i1"), next))
      .toEqual({ kind: "lost-state", registered: "i1" });
  });

  it("claim - a store with state from before markers gets one and registers it", async () => {
    const s = store(null, true);
    expect(await claimAcceptor(s, registry(null), next))
      .toEqual({ kind: "voting", incarnation: "fresh", reregistered: true });
  });

  it("claim - a marked store whose registration was lost registers it again, with its count",
    async () => {
      const r = registry(null);
      expect(await claimAcceptor(store("i1", true, 42), r, next))
        .toEqual({ kind: "voting", incarnation: "i1", reregistered: true });
      expect([r.value, r.mark]).toEqual(["i1", 42]);
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

  it("claim - two processes with two marked stores: the one registered second does not vote",
    async () => {
      expect(await claimAcceptor(store("mine", true), registry(null, "other"), next))
        .toEqual({ kind: "other-store", own: "mine", registered: "other" });
    });

  it("claim - a store below its registered mark was rolled back: retired, it does not vote",
    async () => {
      const s = store("i1", true, 10);
      const claim = await claimAcceptor(s, registry("i1", null, 12), next);
      expect(claim).toEqual({ kind: "rolled-back", retired: "retired:i1:writes=10<mark=12" });
      // Retired in the store itself, so a restart (and every script) still refuses it.
      expect(s.marker).toBe("retired:i1:writes=10<mark=12");
      expect(await claimAcceptor(s, registry("i1", null, 12), next)).toEqual(claim);
    });

  it("claim - a store from before the counter, registered without a mark, votes", async () => {
    expect(await claimAcceptor(store("i1", true, 0), registry("i1", null, 0), next))
      .toEqual({ kind: "voting", incarnation: "i1", reregistered: false });
  });

  it("claim - a cluster store votes with buckets that lost their marker, not with one rolled back",
    async () => {
      const parts = (...p: [string | null, number][]): StorePart[] =>
        p.map(([marker, writes]) => ({ marker, writes }));
      const registered = { incarnation: "i1", revision: 3, mark: 15, marks: [5, 7, 3] };
      // A wiped shard's bucket: no marker, its counter gone too; not a rollback.
      expect(partBehind(parts(["i1", 6], [null, 0], ["i1", 3]), "i1", marksOf(registered, 3)))
        .toBeNull();
      // A bucket whose shard came back from a backup: its marker, an older counter.
      expect(partBehind(parts(["i1", 6], ["i1", 2], ["i1", 3]), "i1", marksOf(registered, 3)))
        .toEqual({ writes: 2, mark: 7 });
      // Marks recorded for a store of another shape (one Redis before): none apply yet.
      expect(marksOf({ ...registered, marks: [15] }, 3)).toEqual([0, 0, 0]);
    });
});
