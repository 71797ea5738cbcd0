import { parseArgs } from "node:util";
import { startLocalCluster } from "../dev/cluster.js";
import { cleanup, freePort, MissingBinaryError } from "../dev/servers.js";

/**
 * `paxoskv dev`: a whole cluster on this machine: nats-server with JetStream and three
 * redis-servers (AOF, fsync always) from PATH, and nodes A, B, C as child processes.
 * `--redis-cluster`: each acceptor on a Redis Cluster of its own (3 primaries) instead.
 */
export async function runDev(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args, options: {
      "nats-port": { type: "string" }, "log-level": { type: "string" },
      "http-port": { type: "string" }, "redis-cluster": { type: "boolean" },
    },
  });
  const natsPort = Number(values["nats-port"] ?? 4222);
  let cluster;
  try {
    cluster = await startLocalCluster({
      natsPort, logLevel: values["log-level"] ?? "warn",
      redisCluster: values["redis-cluster"] === true,
      echo: (_id, text) => process.stdout.write(text),
    });
  } catch (err) {
    if (err instanceof MissingBinaryError) {
      console.error(`paxoskv dev: ${err.message}`);
      return 1;
    }
    throw err;
  }
  // HTTP (metrics, health, the web page) from --http-port (8080) up, or free ports.
  const httpPorts: number[] = [];
  for (let i = 0; i < cluster.acceptors.length; i++) {
    let port = await freePort(Number(values["http-port"] ?? 8080) + i);
    while (httpPorts.includes(port)) port = await freePort();
    httpPorts.push(port);
  }
  const nodes = await Promise.all(cluster.acceptors.map((id, i) =>
    cluster.spawnNode(id, undefined, { PAXOSKV_HTTP_PORT: String(httpPorts[i]) })));
  const server = cluster.nats.url;
  // From the source tree the CLI is an npm script; installed, it is the package's bin.
  const cli = import.meta.url.endsWith(".ts") ? "npm run paxoskv --" : "npx paxoskv";
  console.log(`paxoskv dev: a local cluster is up
  NATS       ${server} (JetStream)
  acceptors  ${cluster.acceptors.map((id) => `${id} ${cluster.redis.get(id)?.url ??
    `cluster ${cluster.redisClusters.get(id)?.url}`}`).join(", ")}
  nodes      ${nodes.map((n) => n.id).join(", ")} (proposer, acceptor, learner)
  web page   http://127.0.0.1:${httpPorts[0]}/  (any node: ${nodes.map((n, i) =>
    `${n.id} on ${httpPorts[i]}`).join(", ")}; /metrics, /readyz)

Try, from another shell:
  nats --server ${server} req paxoskv.create.X 3
  nats --server ${server} req paxoskv.create.X 7      # X is already 3: created=false
  nats --server ${server} req paxoskv.get.X ''
  nats --server ${server} sub 'paxoskv.chosen.>'
  ${cli} create Y hello --nats ${server}
  ${cli} get Y --nats ${server}
  ${cli} trace 'race.>' --nats ${server}   # then press "Race" on the web page

Node logs (pino JSON, level ${values["log-level"] ?? "warn"}; --log-level info for more) follow.
Ctrl-C stops everything.`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  console.log("paxoskv dev: stopping");
  await Promise.all(nodes.map((n) => n.stop()));
  await cleanup();
  return 0;
}
