import { classifyQuorumRead, type AcceptorReport, type QuorumRead } from "../../core/learner.js";
import type { AcceptedProposal, MsgRead, MsgReadReply } from "../../core/messages.js";
import { quorumSize } from "../../core/quorum.js";

/** Reads one key from a majority of acceptors, over NATS or straight from their Redis. */
export interface QuorumReads {
  /** Resolves once a majority answered (or `insufficient` at the timeout); never rejects. */
  read(key: string): Promise<QuorumRead>;
}

/**
 * What the answers so far settle, or null to wait for more; `complete`: no more can come.
 * A value a fast round chose is on every acceptor but shows only as "undecided" in a
 * majority's answers: the remaining answers may settle it without a repair round (if they do
 * not come, the timeout classifies what came).
 */
function settled(
  acceptors: readonly string[], reports: readonly AcceptorReport[], complete: boolean,
): QuorumRead | null {
  if (!complete && reports.length < quorumSize(acceptors.length)) return null;
  const read = classifyQuorumRead(acceptors, reports);
  return read.kind === "undecided" && !complete ? null : read;
}

interface PendingRead {
  readonly key: string;
  readonly reports: AcceptorReport[];
  readonly done: (result: QuorumRead) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Reads one key from a majority of acceptors over NATS. Every read has its own ID, so a reply
 * that arrives late for an older read can never make a newer read look older than it is.
 */
export class QuorumReader implements QuorumReads {
  readonly #pending = new Map<string, PendingRead>();
  #nextId = 0;

  constructor(
    private readonly acceptors: readonly string[],
    private readonly send: (msg: MsgRead) => void,
    private readonly timeoutMs: number,
    private readonly instance: string,
  ) {}

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
    const read = settled(this.acceptors, pending.reports,
      pending.reports.length >= this.acceptors.length);
    if (read !== null) pending.done(read);
  }
}

/** One acceptor's accepted proposal for a key; rejects when it cannot answer. */
export type ReadAcceptor = (acceptorId: string, key: string) => Promise<AcceptedProposal | null>;

/**
 * Reads one key from every acceptor at once through `readAcceptor` (their Redis). Each call
 * has its own promise, so no read ID is needed; a call that fails is an acceptor that did not
 * answer, and once every call has settled the read need not wait for the timeout.
 */
export class DirectQuorumReader implements QuorumReads {
  constructor(
    private readonly acceptors: readonly string[],
    private readonly readAcceptor: ReadAcceptor,
    private readonly timeoutMs: number,
  ) {}

  read(key: string): Promise<QuorumRead> {
    return new Promise((resolve) => {
      const reports: AcceptorReport[] = [];
      let outstanding = this.acceptors.length;
      let finished = false;
      const finish = (result: QuorumRead) => {
        finished = true;
        clearTimeout(timer);
        resolve(result);
      };
      const timer = setTimeout(() => finish(classifyQuorumRead(this.acceptors, reports)),
        this.timeoutMs);
      for (const from of this.acceptors) {
        void this.readAcceptor(from, key).then((accepted) => {
          reports.push({ from, accepted });
        }, () => undefined).finally(() => {
          outstanding--;
          if (finished) return;
          const read = settled(this.acceptors, reports, outstanding === 0);
          if (read !== null) finish(read);
        });
      }
    });
  }
}
