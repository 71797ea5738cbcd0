import {
  AuthorizationError, ClosedConnectionError, connect, ConnectionError, DrainingConnectionError,
  InvalidArgumentError, NoRespondersError, PermissionViolationError, TimeoutError,
  UserAuthenticationExpiredError,
  type NatsConnection,
} from "@nats-io/transport-node";
import {
  decodeJson, decodeUtf8, natsTlsOption, type NatsTlsFiles,
} from "../adapters/nats/connection.js";
import { ErrorCode, PaxosKvError } from "../protocol/codes.js";
import {
  ChosenEventSchema, CreateReplySchema, ErrorReplySchema, GetReplySchema, type ChosenEvent,
  type CreateReply,
} from "../protocol/replies.js";
import { DEFAULT_PREFIX, publicSubject, validateKey, type Operation } from "../protocol/subjects.js";

/** The chosen value of a key, and whether this create's value is the one chosen. */
export interface CreateResult {
  readonly key: string;
  readonly value: string;
  readonly created: boolean;
}

export type GetResult =
  | { readonly key: string; readonly found: true; readonly value: string }
  | { readonly key: string; readonly found: false };

export interface ClientOptions {
  readonly prefix?: string;
  /** How long a request waits for its reply (each attempt). */
  readonly timeoutMs?: number;
  /**
   * Attempts after the first for a create or get that ends TIMEOUT or UNAVAILABLE: both are
   * safe to repeat (the same create answers the key's chosen value, `created` included).
   * Default 0: the caller sees the first error.
   */
  readonly retries?: number;
  /** The wait before the first retry, doubled before each next one, with jitter. Default 50. */
  readonly retryBackoffMs?: number;
}

/** The codes after which repeating the same request is safe and may succeed. */
const RETRYABLE: ReadonlySet<string> = new Set([ErrorCode.TIMEOUT, ErrorCode.UNAVAILABLE]);

/**
 * Errors of those codes that repeating cannot help: the connection is closed, or NATS refuses
 * this user the subject or its reply inbox. Retrying them would only hide the cause.
 */
const FINAL = new WeakSet<PaxosKvError>();

export interface ConnectOptions extends ClientOptions {
  readonly servers: string | readonly string[];
  readonly user?: string;
  readonly password?: string;
  /** TLS with these PEM files; given at all, the client refuses a plaintext server. */
  readonly tls?: NatsTlsFiles;
}

/**
 * A typed client over the public subjects. Errors are PaxosKvError with the contract's codes;
 * TIMEOUT means the outcome is unknown and retrying the same create is always safe.
 */
export class PaxosKvClient {
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryBackoffMs: number;

  constructor(readonly nc: NatsConnection, options: ClientOptions = {}) {
    this.#prefix = options.prefix ?? DEFAULT_PREFIX;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#retries = retriesOf(options);
    this.#retryBackoffMs = options.retryBackoffMs ?? 50;
  }

  /**
   * Connects to NATS. A refused login or an unreachable server is an UNAVAILABLE naming the
   * user or the servers (the NATS error is its cause).
   */
  static async connect(options: ConnectOptions): Promise<PaxosKvClient> {
    retriesOf(options); // a bad option fails before a connection is opened
    const servers = typeof options.servers === "string" ? [options.servers] : [...options.servers];
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers,
        ...(options.user !== undefined ? { user: options.user } : {}),
        ...(options.password !== undefined ? { pass: options.password } : {}),
        ...natsTlsOption(options.tls),
      });
    } catch (err) {
      throw connectFailure(err, servers, options.user);
    }
    return new PaxosKvClient(nc, options);
  }

  /**
   * Creates `key` with `value` once; resolves with the key's chosen value, whoever won.
   * The value is stored as exactly these bytes (a string as its UTF-8, a BOM included); bytes
   * that are not UTF-8, or a string with a lone surrogate, are a BAD_REQUEST sent nowhere.
   */
  async create(key: string, value: string | Uint8Array): Promise<CreateResult> {
    const json = await this.#request("create", key, valueBody(value));
    // The usual reply, checked by hand; anything else goes through the schema (and its error).
    const reply = isCreateReply(json) ? json : CreateReplySchema.parse(json);
    return { key: reply.key, value: reply.value, created: reply.created };
  }

  /** Reads a key: linearizable, or from a replica alone with `{ replica: true }`. */
  async get(key: string, options: { replica?: boolean } = {}): Promise<GetResult> {
    const op: Operation = options.replica === true ? "replica-get" : "get";
    const reply = GetReplySchema.parse(await this.#request(op, key, ""));
    if (!reply.found) return { key: reply.key, found: false };
    if (reply.value === undefined) {
      throw new PaxosKvError(ErrorCode.INTERNAL, "found:true reply without a value");
    }
    return { key: reply.key, found: true, value: reply.value };
  }

  /**
   * Chosen values as they are announced, for keys equal to `keyPrefix` or under it (all keys
   * when omitted). Live only: values chosen before the call are not replayed.
   */
  async *watch(keyPrefix?: string, signal?: AbortSignal): AsyncGenerator<ChosenEvent> {
    if (keyPrefix !== undefined) {
      const problem = validateKey(keyPrefix);
      if (problem !== null) throw new PaxosKvError(ErrorCode.INVALID_KEY, problem);
    }
    const base = publicSubject(this.#prefix, "chosen", keyPrefix ?? "");
    const subjects = keyPrefix === undefined ? [`${base}>`] : [base, `${base}.>`];
    const subs = subjects.map((subject) => this.nc.subscribe(subject));
    const queue: ChosenEvent[] = [];
    let wake: (() => void) | null = null;
    /** Why the subscriptions ended, when NATS ended them (e.g. a permission refused). */
    let failure: unknown = null;
    const stop = () => { for (const sub of subs) sub.unsubscribe(); wake?.(); };
    const pump = async (sub: (typeof subs)[number]) => {
      try {
        for await (const msg of sub) {
          const event = ChosenEventSchema.safeParse(decodeJson(msg.data));
          if (event.success) queue.push(event.data);
          wake?.();
        }
      } catch (err) {
        failure ??= err;
        stop();
      }
    };
    const done = Promise.all(subs.map(pump));
    signal?.addEventListener("abort", stop, { once: true });
    try {
      // Aborted while the caller held an event: nothing would wake the wait below.
      while (signal?.aborted !== true && (!subs.every((s) => s.isClosed()) || queue.length > 0)) {
        const event = queue.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = null;
      }
    } finally {
      stop();
      await done;
    }
    if (failure !== null) throw watchFailure(failure);
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }

  /** One request, repeated up to `retries` times while it fails with a retryable code. */
  async #request(op: Operation, key: string, body: string | Uint8Array): Promise<unknown> {
    const problem = validateKey(key);
    if (problem !== null) throw new PaxosKvError(ErrorCode.INVALID_KEY, problem);
    // NATS refuses a message over its max_payload before sending it; say so in our terms.
    const bytes = typeof body === "string" ? Buffer.byteLength(body) : body.length;
    const payloadMax = this.nc.info?.max_payload;
    if (payloadMax !== undefined && bytes > payloadMax) {
      throw new PaxosKvError(ErrorCode.VALUE_TOO_LARGE, `the value is ${bytes} bytes; the ` +
        `NATS server carries at most ${payloadMax} per message (max_payload): nothing was sent`);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#attempt(op, key, body);
      } catch (err) {
        const retryable = err instanceof PaxosKvError && RETRYABLE.has(err.code) && !FINAL.has(err);
        if (attempt >= this.#retries || !retryable) throw err;
        // Jittered, so that clients refused together do not come back together.
        const wait = this.#retryBackoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  async #attempt(op: Operation, key: string, body: string | Uint8Array): Promise<unknown> {
    let text: string | null;
    try {
      const msg = await this.nc.request(publicSubject(this.#prefix, op, key), body,
        { timeout: this.#timeoutMs });
      text = decodeUtf8(msg.data);
    } catch (err) {
      throw requestFailure(op, err);
    }
    if (text === null) throw new PaxosKvError(ErrorCode.INTERNAL, "reply is not UTF-8");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new PaxosKvError(ErrorCode.INTERNAL, `reply is not JSON: ${text.slice(0, 80)}`,
        { cause: err });
    }
    // Only `ok: false` can be an error reply: a failed parse of every success costs a ZodError.
    if (typeof json === "object" && json !== null && "ok" in json && json.ok === false) {
      const failure = ErrorReplySchema.safeParse(json);
      if (failure.success) {
        throw new PaxosKvError(failure.data.error.code, failure.data.error.message);
      }
    }
    return json;
  }
}

/**
 * The request body of a create: what it will store, checked here so that a value the node
 * would refuse is refused before it is sent. A string with a lone surrogate has no UTF-8 form
 * (encoding would send U+FFFD instead, another value than the caller's).
 */
function valueBody(value: string | Uint8Array): string | Uint8Array {
  if (typeof value === "string") {
    if (!value.isWellFormed()) {
      throw new PaxosKvError(ErrorCode.BAD_REQUEST,
        "the value has a lone surrogate: it is not Unicode text, and has no UTF-8 form");
    }
    return value;
  }
  if (decodeUtf8(value) === null) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST, "the value is not valid UTF-8");
  }
  return value;
}

function retriesOf(options: ClientOptions): number {
  const retries = options.retries ?? 0;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new PaxosKvError(ErrorCode.BAD_REQUEST,
      `retries must be a whole number ≥ 0, not ${retries}`);
  }
  return retries;
}

function isCreateReply(json: unknown): json is CreateReply {
  if (typeof json !== "object" || json === null) return false;
  const r = json as Record<string, unknown>;
  return r.ok === true && typeof r.key === "string" && typeof r.value === "string" &&
    typeof r.created === "boolean";
}

/**
 * What a failed NATS request means for the caller. Only a request that may have reached a
 * node is an unknown outcome (TIMEOUT for a create); one that certainly did not leave, or that
 * NATS refused to deliver, is a certain failure with its own code.
 */
export function requestFailure(op: Operation, err: unknown): PaxosKvError {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const failure = (code: ErrorCode, message: string, final = false) => {
    const error = new PaxosKvError(code, message, { cause: err });
    if (final) FINAL.add(error);
    return error;
  };
  if (cause instanceof NoRespondersError) {
    return failure(ErrorCode.UNAVAILABLE, `no node serves ${op} (no responders): nothing was done`);
  }
  if (cause instanceof TimeoutError) {
    return failure(ErrorCode.TIMEOUT,
      `no reply to ${op} in time; the outcome is unknown, retrying is safe`);
  }
  if (cause instanceof PermissionViolationError && cause.operation === "publish") {
    // The server drops a message its sender may not publish: it reached no node.
    return failure(ErrorCode.UNAVAILABLE, `NATS does not allow this user to publish to ` +
      `${cause.subject} (its permissions): the ${op} was not sent`, true);
  }
  if (cause instanceof PermissionViolationError) {
    // The request went out, but its reply inbox is refused: no answer can ever arrive.
    return failure(op === "create" ? ErrorCode.TIMEOUT : ErrorCode.UNAVAILABLE,
      `NATS does not allow this user to subscribe to ${cause.subject}, where replies arrive ` +
      `(its permissions)${op === "create" ? ": the create was sent and its outcome is unknown" : ""}`,
      true);
  }
  if (cause instanceof InvalidArgumentError) {
    // Refused by the client library before it wrote a byte (e.g. over max_payload).
    const code = /max_payload/.test(cause.message) ? ErrorCode.VALUE_TOO_LARGE
      : ErrorCode.BAD_REQUEST;
    return failure(code, `the ${op} was not sent: ${cause.message}`);
  }
  if (cause instanceof ClosedConnectionError || cause instanceof DrainingConnectionError) {
    return failure(ErrorCode.UNAVAILABLE,
      `the ${op} was not sent: the NATS connection is ` +
      `${cause instanceof ClosedConnectionError ? "closed" : "draining"}`,
      true);
  }
  // Anything else might have left: a create is then of unknown outcome, never called failed.
  const code = op === "create" ? ErrorCode.TIMEOUT : ErrorCode.UNAVAILABLE;
  return failure(code, `${op} failed: ${String(err)}`);
}

/** Why a watch ended, in the client's terms. */
function watchFailure(err: unknown): PaxosKvError {
  if (err instanceof PermissionViolationError) {
    return new PaxosKvError(ErrorCode.UNAVAILABLE, `NATS does not allow this user to ` +
      `subscribe to ${err.subject} (its permissions): cannot watch`, { cause: err });
  }
  return new PaxosKvError(ErrorCode.UNAVAILABLE, `watch ended: ${String(err)}`, { cause: err });
}

/** A failed connect in the client's terms: who was refused, or which servers were unreachable. */
function connectFailure(
  err: unknown, servers: readonly string[], user: string | undefined,
): PaxosKvError {
  if (err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError) {
    const who = user === undefined ? "a connection without a user" : `user "${user}"`;
    return new PaxosKvError(ErrorCode.UNAVAILABLE,
      `NATS at ${servers.join(",")} refused ${who} (${err.message}): wrong user or password`,
      { cause: err });
  }
  if (err instanceof ConnectionError) {
    const detail = err.cause instanceof Error ? err.cause.message : err.message;
    return new PaxosKvError(ErrorCode.UNAVAILABLE,
      `cannot reach NATS at ${servers.join(",")}: ${detail}`, { cause: err });
  }
  if (err instanceof Error) {
    return new PaxosKvError(ErrorCode.UNAVAILABLE,
      `cannot connect to NATS at ${servers.join(",")}: ${err.message}`, { cause: err });
  }
  return new PaxosKvError(ErrorCode.UNAVAILABLE, `cannot connect to NATS: ${String(err)}`);
}

