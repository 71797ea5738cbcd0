import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsTlsOption, type NatsTlsFiles } from "../adapters/nats/connection.js";
import { PaxosKvClient } from "../client/client.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import { traceSubject, type TraceEvent } from "../protocol/trace.js";
import type { RaceAttempt, RaceClientResult, RaceResult } from "./api.js";
import { enableTracing } from "./trace-feed.js";

/** How the race's clients reach NATS: each opens its own connection, as two clients would. */
export interface RaceConnect {
  readonly servers: readonly string[];
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly tls?: NatsTlsFiles | undefined;
}

export interface RaceOptions {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly connect: RaceConnect;
  readonly values?: readonly [string, string];
  /** Tries with a fresh key while both requests reached the same node (see `runRace`). */
  readonly attemptsMax?: number;
  readonly timeoutMs?: number;
}

/**
 * The seed's scenario: client 1 creates a fresh key `race.<ms>` with 3 while client 2 creates
 * it with 7, at the same moment, each on its own NATS connection.
 *
 * NATS hands each request to a node of the queue group at random, and a node runs one
 * proposal per key (a second create of the key joins the running one). When both requests
 * reach the same node there is no duel to draw, so the race is run again on a fresh key, up
 * to `attemptsMax` times; every attempt is a real race and is traced.
 */
export async function runRace(options: RaceOptions): Promise<RaceResult> {
  const { nc, prefix } = options;
  const values = options.values ?? ["3", "7"];
  const attemptsMax = options.attemptsMax ?? 5;
  const tracedBy = await enableTracing(nc, prefix, "race.>");
  const clients = await Promise.all([1, 2].map(async (i) => {
    const conn = await connect({
      servers: [...options.connect.servers], name: `paxoskv-ui-race-client-${i}`,
      ...(options.connect.user !== undefined ? { user: options.connect.user } : {}),
      ...(options.connect.password !== undefined ? { pass: options.connect.password } : {}),
      ...natsTlsOption(options.connect.tls),
    });
    // Longer than any node's request deadline: the node answers, with TIMEOUT if it must.
    return new PaxosKvClient(conn, { prefix, timeoutMs: options.timeoutMs ?? 30_000 });
  }));
  const attempts: RaceAttempt[] = [];
  try {
    const stamp = Date.now();
    for (let attempt = 1; ; attempt++) {
      const key = attempt === 1 ? `race.${stamp}` : `race.${stamp}-${attempt}`;
      const { results, proposers } = await raceOnce(nc, prefix, key, clients, values);
      attempts.push({ key, proposers });
      if (proposers.length >= 2 || attempt >= attemptsMax) {
        return { key, results, proposers, attempts, tracedBy };
      }
    }
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

async function raceOnce(
  nc: NatsConnection, prefix: string, key: string, clients: readonly PaxosKvClient[],
  values: readonly [string, string],
): Promise<{ results: RaceClientResult[]; proposers: string[] }> {
  const proposers = new Set<string>();
  const sub = nc.subscribe(traceSubject(prefix, key), {
    callback: (err, msg) => {
      if (err !== null) return;
      const event = msg.json<TraceEvent>();
      if (event.kind === "request" && event.to[0] !== undefined) proposers.add(event.to[0]);
    },
  });
  try {
    await nc.flush();
    const results = await Promise.all(clients.map(async (client, i) => {
      const proposed = values[i] as string;
      const name = `client ${i + 1}`;
      try {
        const r = await client.create(key, proposed);
        return { client: name, proposed, value: r.value, created: r.created };
      } catch (err) {
        const code = err instanceof PaxosKvError ? err.code : ErrorCode.INTERNAL;
        return { client: name, proposed,
          error: { code, message: err instanceof Error ? err.message : String(err) } };
      }
    }));
    // Each node publishes a request's trace event before its reply; one round trip to the
    // server delivers whatever it routed to this connection before.
    await nc.flush();
    return { results, proposers: [...proposers].sort() };
  } finally {
    sub.unsubscribe();
  }
}
