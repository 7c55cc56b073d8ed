// The one rule between the packages (ARCHITECTURE.md): imports point only towards core,
// and @nerv/core imports nothing but effect. The compiler cannot see this rule, so it is checked here.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"

const allowed = {
  "packages/core/src": [/^effect(\/|$)/],
  // The store's adapters may use the drivers beneath @effect/sql where a journal needs the
  // connection itself (SqliteJournal's writer: BEGIN IMMEDIATE, data_version; PostgresJournal's
  // writer and listener: one transaction on one connection, LISTEN on a connection it reopens).
  "packages/store/src": [/^effect(\/|$)/, /^@effect\//, /^@nerv\/core$/, /^node:/, /^better-sqlite3$/, /^pg$/],
  "packages/runtime/src": [
    /^effect(\/|$)/,
    /^@effect\//,
    /^@nerv\/(core|store)$/,
    /^node:/,
    // The on-machine language library behind IntentAnalyzer (docs/intent.md) and its English model.
    /^wink-nlp$/,
    /^wink-eng-lite-web-model$/,
    // The runtime holds the delivery adapters, so the NATS client is allowed there (and only there).
    /^@nats-io\/(transport-node|jetstream)$/,
    // The OpenTelemetry SDK and OTLP exporters that the observability layer (OpenTelemetry.ts) exports to.
    /^@opentelemetry\//
  ]
}

const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : []
  })

const problems = []
for (const [dir, rules] of Object.entries(allowed)) {
  for (const file of files(dir)) {
    const source = readFileSync(file, "utf8")
    for (const [, specifier] of source.matchAll(/\b(?:from\s+|import\s*\(\s*|import\s+)"([^"]+)"/g)) {
      if (specifier.startsWith(".")) continue
      if (!rules.some((rule) => rule.test(specifier))) problems.push(`${file}: imports "${specifier}"`)
    }
  }
}
if (problems.length > 0) {
  console.error(`Package boundary violations (see ARCHITECTURE.md, "the rule between them"):\n${problems.join("\n")}`)
  process.exit(1)
}
console.log("package boundaries: ok")
