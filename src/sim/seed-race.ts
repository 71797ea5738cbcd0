import { seededRandom } from "../core/random.js";
import { ScriptedCluster } from "./scripted-cluster.js";

export interface SeedRace {
  readonly lines: readonly string[];
  readonly cluster: ScriptedCluster;
}

/**
 * The seed's race, step by step: client 1 creates X=3 through proposer P1 while client 2
 * creates X=7 through P2, on acceptors A, B, C. As in the seed, A and B hear P1's Prepare
 * first and C hears P2's; P2's higher n then wins everywhere, P1's Accept is refused, and P1
 * retries above n and adopts 7. Every node ends with X=7.
 */
export function runSeedRace(): SeedRace {
  const c = new ScriptedCluster(["A", "B", "C"], seededRandom(1));
  const say = (line: string): void => void c.lines.push(`        ${line}`);
  say("Phase 1: Prepare(n) carries the ID only; P1 starts at n=1000.P1, P2 at n=1005.P2");
  c.now = 1000;
  c.create("client 1", "P1", "X", "3");
  c.now = 1005;
  c.create("client 2", "P2", "X", "7");
  c.now = 1006;
  c.deliver("P1", "A");
  c.deliver("P1", "B");
  c.deliver("P2", "C");
  say("A and B promise P2 too (1005.P2 > 1000.P1); C refuses P1 (1000.P1 <= 1005.P2)");
  c.deliver("P2", "A");
  c.deliver("P2", "B");
  c.deliver("P1", "C");
  c.now = 1007;
  say("Phase 2: P1 has promises from A and B, a majority, so it sends Accept [1000.P1, 3]");
  c.deliver("A", "P1", "promise");
  c.deliver("B", "P1", "promise");
  c.deliver("C", "P1");
  say("... but each acceptor promised 1005.P2: no more Accept < 1005.P2");
  for (const acceptor of ["A", "B", "C"]) c.deliver("P1", acceptor, "accept");
  say("P2 has a majority of promises, none with a value: it sends its own, Accept [1005.P2, 7]");
  for (const acceptor of ["C", "A", "B"]) c.deliver(acceptor, "P2", "promise");
  for (const acceptor of ["A", "B", "C"]) c.deliver("P2", acceptor, "accept");
  c.now = 1008;
  say("Phase 3: A and B accepted [1005.P2, 7]: a majority, so X=7 is chosen and learned");
  for (const acceptor of ["A", "B", "C"]) c.deliver(acceptor, "P2");
  say("P1 hears the refusals (they carry promised=1005.P2) and backs off");
  for (const acceptor of ["A", "B", "C"]) c.deliver(acceptor, "P1");
  say("P1 retries above 1005.P2; the promises answer with the accepted [1005.P2, 7]");
  c.advanceTo(c.wakeAt("P1") ?? c.now);
  c.deliverAll();
  say("Every node holds X=7; client 1 learns that X is 7, not 3 (created=false)");
  return { lines: c.lines, cluster: c };
}
