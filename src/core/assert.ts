/**
 * A broken invariant: the process must stop (acceptor state is durable, so a restart is safe).
 * The node reports it as `INTERNAL` (src/protocol/codes.ts; the pure core imports only itself).
 */
export class AssertionFailure extends Error {
  override readonly name = "AssertionFailure";
}

/** Checks an invariant that no input may break; expected outcomes are values, not assertions. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}
