import { connect, type NatsConnection } from "@nats-io/transport-node";

export type { NatsConnection };

export interface NatsOptions {
  readonly servers: readonly string[];
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly name: string;
}

/** Connects and keeps reconnecting forever: a node outlives NATS server restarts. */
export function connectNats(options: NatsOptions): Promise<NatsConnection> {
  return connect({
    servers: [...options.servers],
    name: options.name,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.password !== undefined ? { pass: options.password } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes strict UTF-8, or returns null: invalid bytes are a BAD_REQUEST, never replaced. */
export function decodeUtf8(data: Uint8Array): string | null {
  try {
    return utf8.decode(data);
  } catch {
    return null;
  }
}

/** Decodes UTF-8 JSON, or returns null. */
export function decodeJson(data: Uint8Array): unknown {
  const text = decodeUtf8(data);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
