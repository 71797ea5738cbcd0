/**
 * Fallback for a machine without the server binaries: the same server in a container, when a
 * Docker engine answers. Loaded only then, so the native path never imports testcontainers.
 */
import type { Destroyable, ServerHandle, ServerSpec } from "../../../src/dev/servers.js";
import { track, waitReady } from "../../../src/dev/servers.js";

export async function startContainer(spec: ServerSpec): Promise<ServerHandle> {
  // Ryuk (the reaper container) is one more image to pull; our cleanup() removes containers.
  process.env["TESTCONTAINERS_RYUK_DISABLED"] = "true";
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import("testcontainers");
  const client = await getContainerRuntimeClient().catch((cause: unknown) => {
    throw new Error(`${spec.binary} is not on PATH (install the Debian package ` +
      `\`${spec.aptPackage}\`: apt-get install ${spec.aptPackage}), and no Docker engine ` +
      `answers for the ${spec.image} fallback`, { cause });
  });
  const dir = "/data";
  const args = spec.args(spec.containerPort, dir)
    .map((arg) => (arg === "127.0.0.1" ? "0.0.0.0" : arg)); // reachable through the port map
  const started = await new GenericContainer(spec.image)
    .withCommand(spec.kind === "redis" ? ["redis-server", ...args] : args)
    .withExposedPorts(spec.containerPort)
    .withWaitStrategy(Wait.forLogMessage(spec.readyLog))
    .start();
  const container = () => client.container.getById(started.getId());
  const handle: ServerHandle & Destroyable = {
    kind: spec.kind,
    get port() { return started.getMappedPort(spec.containerPort); },
    get url() { return `${spec.kind}://${started.getHost()}:${handle.port}`; },
    dir,
    stop: () => client.container.stop(container(), { timeout: 10 }),
    kill: async (signal = "SIGKILL") => {
      await container().kill({ signal });
      await container().wait();
    },
    restart: async () => {
      await started.restart({ timeout: 10 }); // keeps the container's /data
      await waitReady(spec.kind, started.getHost(), handle.port);
    },
    destroy: async () => { await started.stop({ remove: true, timeout: 0 }); },
    destroySync: () => undefined, // an exiting process cannot wait on Docker
  };
  track(handle);
  return handle;
}
