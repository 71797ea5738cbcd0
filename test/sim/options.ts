import { randomInt, seededRandom, type Random } from "../../src/core/random.js";

/** A bug planted on purpose to show the checker is not vacuous (see bugs.ts). */
export type PlantedBug =
  | "accept-below-promise" | "ignore-accepted" | "quorum-of-one"
  // An acceptor that lost its state votes again at once, without the rejoin's recovery.
  | "rejoin-without-recovery"
  // A classic round after fast rounds ignores the fast values its promises report.
  | "ignore-fast-values"
  // The proposer counts a reply without checking that it answers this proposal (its ID).
  | "count-stale-replies"
  // A rejoin recovers only the keys of one of the acceptors it listed (src/core/rejoin.ts).
  | "rejoin-lists-one";

/** Everything a simulation run depends on besides its seed. */
export interface SimOptions {
  readonly seed: number;
  readonly acceptorCount: number;
  readonly proposerCount: number;
  readonly keyCount: number;
  /** For each key, the indexes of the proposers whose clients race to create it. */
  readonly racers: readonly (readonly number[])[];
  readonly lossPct: number;
  readonly dupPct: number;
  readonly delayTicksMax: number;
  readonly partitions: boolean;
  readonly crashes: boolean;
  /**
   * An acceptor loses its durable state (a wiped Redis) and must rejoin: it stays out until
   * the rejoin procedure has recovered every key the others hold (see `src/node/repair/rejoin.ts`).
   */
  readonly amnesia: boolean;
  /** Creates start with a fast round (Accept at the fast ballot, no Prepare) 70 % of the time. */
  readonly fastRounds: boolean;
  /**
   * Each retry of a create proposes another value, as another client's create of the same key
   * through the same node would: late replies to one proposal then meet the next one.
   */
  readonly valueVariety: boolean;
  /**
   * Before healing, the percent of Paxos messages after which the acceptor that persisted it
   * pauses (SIGSTOP, a long GC, an fsync stall) for up to eight phase timeouts, longer than a
   * proposal lasts: on waking it sends the late reply first, then handles what queued meanwhile.
   */
  readonly pausePct: number;
  /**
   * Proposers start above the ballots they used for the key (the driver's floor); off, the
   * proposal ID alone must keep a reused ballot's late replies out.
   */
  readonly ballotFloor: boolean;
  /** Faults run from tick 0 until the network heals. */
  readonly healAt: number;
  /** After healing, every create must be chosen and learned within this many ticks. */
  readonly livenessTicks: number;
  readonly phaseTimeoutTicks: number;
  readonly bug: PlantedBug | null;
  /** Off only to show that the agreement check alone catches a planted acceptor bug. */
  readonly checkAcceptorRules: boolean;
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[randomInt(random, items.length)] as T;
}

/** The same seed always yields the same options (the run uses its own stream, see runSeed). */
export function optionsFromSeed(seed: number): SimOptions {
  const random = seededRandom(seed);
  const acceptorCount = random.next() < 0.7 ? 3 : 5;
  const proposerCount = 2 + randomInt(random, 3);
  const keyCount = 1 + randomInt(random, 3);
  const racers = Array.from({ length: keyCount }, () => racersOf(random, proposerCount));
  const delayTicksMax = pick(random, [1, 3, 10]);
  // Drawn in this order so that every seed keeps the options it had before amnesia existed.
  const lossPct = pick(random, [0, 5, 20, 40]);
  const dupPct = pick(random, [0, 0, 10, 30]);
  const partitions = random.next() < 0.3;
  const crashes = random.next() < 0.4;
  const healAt = 50 + randomInt(random, 250);
  // Above a round trip, so a healed network lets a phase finish.
  const phaseTimeoutTicks = 2 * delayTicksMax + 4 + randomInt(random, 10);
  const amnesia = random.next() < 0.3 && crashes;
  const fastRounds = random.next() < 0.5;
  const valueVariety = random.next() < 0.5;
  const pausePct = pick(random, [0, 0, 2, 10]);
  const ballotFloor = random.next() < 0.7;
  // With varied values, some keys are created through one node only: clients of that node race
  // each other, and late replies to one of their proposals meet the next one.
  const racing = valueVariety ? racers.map((r) => random.next() < 0.5 ? r.slice(0, 1) : r)
    : racers;
  return {
    seed, acceptorCount, proposerCount, keyCount, racers: racing, lossPct, dupPct, delayTicksMax,
    partitions, crashes, amnesia, fastRounds, valueVariety, pausePct, ballotFloor, healAt, livenessTicks: 1000,
    phaseTimeoutTicks, bug: null, checkAcceptorRules: true,
  };
}

/** At least two racers per key when there are two proposers: the seed's X=3 against X=7. */
function racersOf(random: Random, proposerCount: number): number[] {
  const all = Array.from({ length: proposerCount }, (_, i) => i);
  const chosen = all.filter(() => random.next() < 0.6);
  for (const i of all) if (chosen.length < 2 && !chosen.includes(i)) chosen.push(i);
  return chosen.sort((a, b) => a - b);
}

/** Topology first, then the faults: `a3p2k1-loss20-dup10-delay10-part-crash`. */
export function scenarioName(o: SimOptions): string {
  const parts = [`a${o.acceptorCount}p${o.proposerCount}k${o.keyCount}`];
  if (o.lossPct > 0) parts.push(`loss${o.lossPct}`);
  if (o.dupPct > 0) parts.push(`dup${o.dupPct}`);
  if (o.delayTicksMax > 1) parts.push(`delay${o.delayTicksMax}`);
  if (o.partitions) parts.push("part");
  if (o.crashes) parts.push("crash");
  if (o.amnesia) parts.push("amnesia");
  if (o.fastRounds) parts.push("fast");
  if (o.valueVariety) parts.push("vary");
  if (o.pausePct > 0) parts.push(`pause${o.pausePct}`);
  if (!o.ballotFloor) parts.push("nofloor");
  if (o.bug !== null) parts.push(`bug-${o.bug}`);
  return parts.join("-");
}
