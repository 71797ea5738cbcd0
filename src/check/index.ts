/** The history checker of the fault-injection suite: pure functions over recorded data. */
export * from "./history.js";
export { checkHistory, describe, type CheckOptions, type CheckResult } from "./write-once.js";
export {
  checkAcceptors, compareRaw, type AcceptorCheckOptions, type AcceptorHash, type AcceptorSnapshot,
} from "./acceptors.js";
