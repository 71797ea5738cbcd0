import { connect, type NatsConnection, type TlsOptions } from "@nats-io/transport-node";

export type { NatsConnection };

/**
 * TLS to NATS, as PEM files (checked readable by `config.ts`): the CA that signed the server's
 * certificate, and this client's certificate and key when the server verifies clients.
 * Present at all (even empty) means TLS is required: the client refuses a plaintext server.
 */
export interface NatsTlsFiles {
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface NatsOptions {
  readonly servers: readonly string[];
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly tls?: NatsTlsFiles | undefined;
  readonly name: string;
}

/** The nats.js v3 `tls` connect option for `files`, or nothing (plaintext, or `tls://` URLs). */
export function natsTlsOption(files: NatsTlsFiles | undefined): { tls?: TlsOptions } {
  if (files === undefined) return {};
  return { tls: {
    ...(files.caFile !== undefined ? { caFile: files.caFile } : {}),
    ...(files.certFile !== undefined ? { certFile: files.certFile } : {}),
    ...(files.keyFile !== undefined ? { keyFile: files.keyFile } : {}),
  } };
}

/** Connects and keeps reconnecting forever: a node outlives NATS server restarts. */
export function connectNats(options: NatsOptions): Promise<NatsConnection> {
  return connect({
    servers: [...options.servers],
    name: options.name,
    ...(options.user !== undefined ? { user: options.user } : {}),
    ...(options.password !== undefined ? { pass: options.password } : {}),
    ...natsTlsOption(options.tls),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
}

/**
 * The one decoder of bytes from NATS. `ignoreBOM`: a leading U+FEFF is part of the text (a
 * value is exactly the bytes sent), not a marker to drop; nats.js' `msg.string()` drops it.
 */
// eslint-disable-next-line no-restricted-syntax -- this is the one decoder
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes strict UTF-8, keeping every byte (a BOM too), or returns null: invalid bytes are a
 * BAD_REQUEST, never replaced. Use it (or decodeJson) for every message, never `msg.string()`.
 */
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
