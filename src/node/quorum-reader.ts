import { classifyQuorumRead, type AcceptorReport, type QuorumRead } from "../core/learner.js";
import type { MsgRead, MsgReadReply } from "../core/messages.js";
import { quorumSize } from "../core/quorum.js";

interface PendingRead {
  readonly key: string;
  readonly reports: AcceptorReport[];
  readonly done: (result: QuorumRead) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Reads one key from a majority of acceptors. Every read has its own ID, so a reply that
 * arrives late for an older read can never make a newer read look older than it is.
 */
export class QuorumReader {
  readonly #pending = new Map<string, PendingRead>();
  #nextId = 0;

  constructor(
    private readonly acceptors: readonly string[],
    private readonly send: (msg: MsgRead) => void,
    private readonly timeoutMs: number,
    private readonly instance: string,
  ) {}

  /** Resolves once a majority answered (or `insufficient` at the timeout); never rejects. */
  read(key: string): Promise<QuorumRead> {
    const readId = `${this.instance}-${(this.#nextId++).toString(36)}`;
    return new Promise((resolve) => {
      const finish = (result: QuorumRead) => {
        clearTimeout(this.#pending.get(readId)?.timer);
        this.#pending.delete(readId);
        resolve(result);
      };
      const timer = setTimeout(() => {
        const pending = this.#pending.get(readId);
        finish(classifyQuorumRead(this.acceptors, pending?.reports ?? []));
      }, this.timeoutMs);
      this.#pending.set(readId, { key, reports: [], done: finish, timer });
      this.send({ type: "read", key, readId });
    });
  }

  deliver(reply: MsgReadReply): void {
    const pending = this.#pending.get(reply.readId);
    if (pending === undefined || pending.key !== reply.key) return;
    if (!this.acceptors.includes(reply.from)) return;
    if (pending.reports.some((r) => r.from === reply.from)) return;
    pending.reports.push({ from: reply.from, accepted: reply.accepted });
    if (pending.reports.length < quorumSize(this.acceptors.length)) return;
    // A value a fast round chose is on every acceptor but shows only as "undecided" in a
    // majority's answers: the remaining answers may settle it without a repair round (if they
    // do not come, the timeout classifies what came).
    const read = classifyQuorumRead(this.acceptors, pending.reports);
    if (read.kind !== "undecided" || pending.reports.length >= this.acceptors.length) {
      pending.done(read);
    }
  }
}
