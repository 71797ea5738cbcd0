import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Svcm, type ServiceIdentity } from "@nats-io/services";
import type { NatsConnection } from "@nats-io/transport-node";
import { AcceptorVotingView } from "../node/infrastructure/status.js";
import type { Readiness } from "../protocol/readiness.js";
import { CHOSEN_STREAM } from "../protocol/subjects.js";
import type { ClusterStatus, NodeStatus } from "./api.js";

/** The micro service every node registers (`SERVICE_NAME` in src/node/roles/start-client-endpoints.ts). */
export const UI_SERVICE_NAME = "paxoskv";

export interface ClusterSource {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly acceptors: readonly string[];
  readonly self?: {
    readonly node: string;
    readonly roles: readonly string[];
    readiness(): Promise<Readiness>;
  } | undefined;
  readonly race?: boolean;
}

interface StatsLike extends ServiceIdentity {
  readonly started?: string;
  readonly endpoints?: readonly {
    name: string; subject: string; num_requests?: number; num_errors?: number;
    average_processing_time?: number; data?: unknown;
  }[];
}

/** Reads the cluster's state: service discovery, the chosen stream, this node's readiness. */
export class ClusterView {
  #jsm: Promise<JetStreamManager> | null = null;
  readonly #voting: AcceptorVotingView;

  constructor(private readonly source: ClusterSource) {
    this.#voting = new AcceptorVotingView(source.acceptors);
    this.#voting.start(source.nc, source.prefix);
  }

  close(): void {
    this.#voting.stop();
  }

  async status(): Promise<ClusterStatus> {
    const { nc, prefix, self } = this.source;
    const errors: string[] = [];
    const failed = (what: string) => (err: unknown) => {
      errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    };
    const client = new Svcm(nc).client({ strategy: "stall", stall: 250, maxWait: 1500 });
    const collect = async <T>(verb: string, q: Promise<AsyncIterable<T>>): Promise<T[]> => {
      const out: T[] = [];
      try {
        for await (const item of await q) out.push(item);
      } catch (err) {
        // No node at all answers with "no responders": an empty cluster, not an error.
        if (!/no responders/i.test(String(err))) failed(verb)(err);
      }
      return out;
    };
    const [pings, infos, stats, stream, readiness] = await Promise.all([
      collect("$SRV.PING", client.ping(UI_SERVICE_NAME)),
      collect("$SRV.INFO", client.info(UI_SERVICE_NAME)),
      collect("$SRV.STATS", client.stats(UI_SERVICE_NAME)) as Promise<StatsLike[]>,
      this.#stream().catch(failed("stream info")),
      self === undefined ? Promise.resolve(null) : self.readiness().catch(failed("readiness")),
    ]);
    const nodes = new Map<string, NodeStatus>();
    for (const identity of [...pings, ...infos, ...stats]) {
      if (nodes.has(identity.id)) continue;
      const stat = stats.find((s) => s.id === identity.id);
      const info = infos.find((s) => s.id === identity.id);
      const data = stat?.endpoints?.map((e) => e.data).find(isLearnerData) ?? null;
      nodes.set(identity.id, {
        id: identity.id,
        node: identity.metadata?.node ?? "?",
        roles: (identity.metadata?.roles ?? "").split(",").filter((r) => r !== ""),
        version: identity.version,
        started: stat?.started ?? null,
        endpoints: (stat?.endpoints ?? info?.endpoints ?? []).map((e) => {
          const s = e as NonNullable<StatsLike["endpoints"]>[number];
          return {
            name: s.name, subject: s.subject, requests: s.num_requests ?? 0,
            errors: s.num_errors ?? 0, averageMs: (s.average_processing_time ?? 0) / 1e6,
          };
        }),
        replicaSize: data?.replicaSize ?? null,
        lag: data?.lag ?? null,
      });
    }
    const list = [...nodes.values()].sort((a, b) => a.node.localeCompare(b.node) ||
      a.id.localeCompare(b.id));
    const acceptors = this.source.acceptors.map((id) => ({
      id, up: list.some((n) => n.node === id && n.roles.includes("acceptor")),
      voting: this.#voting.stateOf(id),
    }));
    return {
      at: new Date().toISOString(),
      prefix,
      self: self === undefined ? null : { node: self.node, roles: self.roles, readiness },
      nats: { connected: !nc.isClosed(), server: nc.getServer() },
      nodes: list, acceptors,
      quorum: Math.floor(this.source.acceptors.length / 2) + 1, race: this.source.race === true,
      stream, errors,
    };
  }

  async #stream(): Promise<ClusterStatus["stream"]> {
    this.#jsm ??= jetstreamManager(this.source.nc, { checkAPI: false });
    let jsm: JetStreamManager;
    try {
      jsm = await this.#jsm;
    } catch (err) {
      this.#jsm = null;
      throw err;
    }
    const info = await jsm.streams.info(CHOSEN_STREAM);
    return {
      name: CHOSEN_STREAM, messages: info.state.messages, firstSeq: info.state.first_seq,
      lastSeq: info.state.last_seq, lastTs: info.state.last_ts ?? null, bytes: info.state.bytes,
    };
  }
}

function isLearnerData(data: unknown): data is { replicaSize: number; lag: number } {
  return typeof data === "object" && data !== null &&
    typeof (data as { replicaSize?: unknown }).replicaSize === "number" &&
    typeof (data as { lag?: unknown }).lag === "number";
}
