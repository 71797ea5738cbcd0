import { parseArgs } from "node:util";
import { loadNatsTls } from "../node/infrastructure/config.js";
import { startStandaloneUi } from "../ui/standalone.js";

/** `paxoskv ui [--nats URL] [--port 8080] [--host 127.0.0.1] [--acceptors A,B,C] [--race]`. */
export async function runUi(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: {
    nats: { type: "string" }, port: { type: "string" }, host: { type: "string" },
    prefix: { type: "string" }, acceptors: { type: "string" }, race: { type: "boolean" },
  } });
  const env = process.env;
  const servers = (values.nats ?? env.PAXOSKV_NATS_URL ?? "nats://127.0.0.1:4222").split(",");
  const ui = await startStandaloneUi({
    servers, user: env.PAXOSKV_NATS_USER || undefined,
    password: env.PAXOSKV_NATS_PASSWORD || undefined,
    tls: loadNatsTls(env),
    prefix: values.prefix ?? env.PAXOSKV_PREFIX ?? "paxoskv",
    acceptors: (values.acceptors ?? env.PAXOSKV_ACCEPTORS ?? "A,B,C").split(",")
      .map((a) => a.trim()).filter((a) => a !== ""),
    port: Number(values.port ?? 8080),
    host: values.host ?? "127.0.0.1",
    race: values.race === true,
  });
  console.log(`paxoskv ui: http://${values.host ?? "127.0.0.1"}:${ui.port}/  (cluster: ` +
    `${servers.join(",")}; Ctrl-C stops)`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await ui.close();
  return 0;
}
