import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "./codes.js";

/** Public replies of the v1 contract (DESIGN.md). */

export const ErrorReplySchema = z.object({
  ok: z.literal(false),
  error: z.object({ code: z.enum(ERROR_CODES as [ErrorCode, ...ErrorCode[]]), message: z.string() }),
});

export const CreateReplySchema = z.object({
  ok: z.literal(true), key: z.string(), value: z.string(), created: z.boolean(),
});

export const GetReplySchema = z.object({
  ok: z.literal(true), key: z.string(), found: z.boolean(), value: z.string().optional(),
});

export const ChosenEventSchema = z.object({
  key: z.string(),
  value: z.string(),
  /** `round.nodeId` of the ballot that was chosen. */
  ballot: z.string(),
  /** The acceptors whose Accepted made the majority, when the announcer knows them. */
  acceptors: z.array(z.string()).optional(),
});

export type ErrorReply = z.infer<typeof ErrorReplySchema>;
export type CreateReply = z.infer<typeof CreateReplySchema>;
export type GetReply = z.infer<typeof GetReplySchema>;
export type ChosenEvent = z.infer<typeof ChosenEventSchema>;

export function errorReply(code: ErrorCode, message: string): ErrorReply {
  return { ok: false, error: { code, message } };
}
