/** The compose stack's NATS authorization (docker/nats-server.conf) for a test's nats-server. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CONF = fileURLToPath(new URL("../../../docker/nats-server.conf", import.meta.url));
export const NODE = { user: "node", pass: "node-secret" };
export const CLIENT = { user: "client", pass: "client-secret" };

/**
 * The shipped config's permission blocks and accounts, verbatim from NODE_PERMISSIONS on,
 * with the users' names and passwords filled in (the shipped file takes them from the
 * environment). The listener, JetStream dir and cluster come from the test's flags.
 */
export function authConfig(): string {
  const shipped = readFileSync(CONF, "utf8");
  const from = shipped.indexOf("NODE_PERMISSIONS");
  if (from <= 0) throw new Error(`${CONF} defines no NODE_PERMISSIONS`);
  return shipped.slice(from)
    .replaceAll("$NODE_USER", JSON.stringify(NODE.user))
    .replaceAll("$NODE_PASSWORD", JSON.stringify(NODE.pass))
    .replaceAll("$CLIENT_USER", JSON.stringify(CLIENT.user))
    .replaceAll("$CLIENT_PASSWORD", JSON.stringify(CLIENT.pass));
}
