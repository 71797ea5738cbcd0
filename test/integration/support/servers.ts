/** The integration tests' servers: native binaries, or containers where they are missing. */
import { setServerFallback, type ServerSpec } from "../../../src/dev/servers.js";

// Loaded only when a binary is missing, so the native path never imports testcontainers.
setServerFallback(async (spec: ServerSpec) => (await import("./containers.js")).startContainer(spec));

export * from "../../../src/dev/servers.js";
