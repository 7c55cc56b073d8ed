// Bundles the benchmark suites into plain JavaScript (dist/bench.mjs), NERV's sources and the
// peers' published builds alike, so that no figure pays for a development transform (see
// docs/performance.md). better-sqlite3 stays external: it is a native addon.
import { build } from "esbuild"

await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3"],
  outfile: "dist/bench.mjs",
  logLevel: "warning",
  // Bundled CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" }
})
