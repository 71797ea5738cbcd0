/** The paxoskv client library: typed create, get and watch over the public subjects. */
export {
  PaxosKvClient, type ClientOptions, type ConnectOptions, type CreateResult, type GetResult,
} from "./client/client.js";
export { ErrorCode, ERROR_CODES, PaxosKvError } from "./protocol/codes.js";
export type { ChosenEvent } from "./protocol/replies.js";
export { validateKey } from "./protocol/subjects.js";
