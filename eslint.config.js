import js from "@eslint/js";
import tseslint from "typescript-eslint";

const ioModules = [
  "@nats-io/*", "ioredis", "pino", "zod", "node:*", "fs", "net", "child_process", "timers",
];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "docs/*.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // One decoder for bytes from NATS (decodeUtf8 / decodeJson in adapters/nats/connection.ts):
    // nats.js' msg.string() and entry.string() drop a leading BOM, a byte of the value.
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[arguments.length=0][callee.property.name='string']" +
          "[callee.object.name!='z']",
        message: "decode with decodeUtf8/decodeJson: .string() drops a leading BOM",
      }, {
        selector: "NewExpression[callee.name='TextDecoder']",
        message: "decode with decodeUtf8/decodeJson (adapters/nats/connection.ts), the one decoder",
      }],
    },
  },
  {
    // The page runs in the browser (src/ui/page/tsconfig.json): its bundle takes no package
    // and no Node module, only its own files and pure shared ones (src/core, src/protocol).
    files: ["src/ui/page/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{ regex: "^[^.]", message: "the page's bundle imports no package" }],
      }],
    },
  },
  {
    // The Paxos core is pure: no I/O, no clocks, no chance. Time and randomness are arguments.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { group: ioModules, message: "src/core is pure: pass I/O in through the node." },
          { group: ["../*", "!../core/*"], message: "src/core imports only src/core." },
        ],
      }],
      "no-restricted-globals": ["error",
        { name: "setTimeout", message: "the core takes ticks as input" },
        { name: "setInterval", message: "the core takes ticks as input" },
        { name: "Date", message: "the core takes time as input" },
        { name: "performance", message: "the core takes time as input" },
        { name: "process", message: "the core has no environment" },
      ],
      "no-restricted-properties": ["error",
        { object: "Math", property: "random", message: "the core takes a seeded Random" },
      ],
    },
  },
);
