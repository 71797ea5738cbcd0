/** A broken invariant: the process must stop (acceptor state is durable, so a restart is safe). */
export class AssertionFailure extends Error {
  override readonly name = "AssertionFailure";
  readonly code = "INTERNAL";
}

/** Checks an invariant that no input may break; expected outcomes are values, not assertions. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}
