#!/usr/bin/env node
/**
 * The `paxoskv` command. It checks the Node.js version before anything else loads, then loads
 * the CLI (run.ts). On an older Node the CLI would start and then fail on the first create
 * ("INTERNAL: Promise.withResolvers is not a function"), so this file stays ES5 in what it
 * runs and imports nothing statically: static imports would load before the check.
 */
/* eslint-disable no-var -- ES5 on purpose: this must parse on any Node.js that loads it. */

/** The oldest Node.js major version package.json's "engines" allows (a test keeps them equal). */
var NODE_MAJOR_MIN = 24;
/** The code of this refusal: OperatorCode.WRONG_RUNTIME in src/protocol/codes.ts (a test checks). */
var WRONG_RUNTIME = "WRONG_RUNTIME";

function runtimeProblem(version: string | undefined): string | null {
  var major = version === undefined ? NaN : parseInt(version.split(".")[0] as string, 10);
  if (major >= NODE_MAJOR_MIN) return null;
  return "paxoskv: " + WRONG_RUNTIME + ": paxoskv needs Node.js " + NODE_MAJOR_MIN +
    " or later, and this is " + (version === undefined ? "not Node.js" : "Node.js " + version) +
    " (" + process.execPath + ").\n" +
    "Run it on Node.js " + NODE_MAJOR_MIN + " one of these ways:\n" +
    "  npx -p node@" + NODE_MAJOR_MIN + " paxoskv <command>      Node.js " + NODE_MAJOR_MIN +
    " from npm, for this run only\n" +
    "  npm start, npm run paxoskv -- <command>   in paxoskv's source tree (Node.js " +
    NODE_MAJOR_MIN + " is a dev dependency)\n" +
    "  docker run --rm paxoskv:local <command>   the image (docker/Dockerfile) carries Node.js " +
    NODE_MAJOR_MIN + "\n" +
    "or install Node.js " + NODE_MAJOR_MIN + " or later.";
}

var problem = runtimeProblem(process.versions === undefined ? undefined : process.versions.node);
if (problem !== null) {
  process.stderr.write(problem + "\n");
  process.exit(1);
}
import("./run.js").catch(function (err: unknown) {
  process.stderr.write("paxoskv: " + String(err) + "\n");
  process.exit(1);
});
