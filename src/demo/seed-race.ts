/**
 * `npm run demo`: the seed's question, answered by the real core. Clients 1 and 2 race to
 * create X=3 and X=7 on nodes A, B, C; Basic Paxos makes every node end with the same X.
 */
import { runSeedRace } from "../sim/seed-race.js";

const { lines, cluster } = runSeedRace();
for (const line of lines) console.log(line);
console.log("\nFinal state:");
for (const line of cluster.summary("X")) console.log(`  ${line}`);
for (const [client, proposer] of [["client 1", "P1"], ["client 2", "P2"]] as const) {
  const outcome = cluster.outcomes.get(proposer);
  const answer = outcome?.kind === "chosen" ? `X=${outcome.value}` : outcome?.kind ?? "none";
  console.log(`  ${client} (through ${proposer}) is told ${answer}`);
}
