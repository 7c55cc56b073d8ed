// Bundles the benchmark suites into plain JavaScript (dist/bench.mjs), NERV's sources and the
// peers' published builds alike, so that no figure pays for a development transform (see
// docs/performance.md). better-sqlite3 stays external: it is a native addon; so does pg-native, pg's
// optional native binding, never installed.
import { build } from "esbuild"

const options = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "pg-native"],
  logLevel: "warning",
  // Bundled CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" }
}
await build({ ...options, entryPoints: ["src/main.ts"], outfile: "dist/bench.mjs" })
// The process the multi-process workloads start several of (see src/suites/processes.ts).
await build({ ...options, entryPoints: ["src/processes/writer.ts"], outfile: "dist/processes-writer.mjs" })
await build({ ...options, entryPoints: ["src/processes/heap.ts"], outfile: "dist/processes-heap.mjs" })
// The worker processes of the NATS suite, started by it from the same folder.
await build({ ...options, entryPoints: ["src/natsWorker.ts"], outfile: "dist/nats-worker.mjs" })
