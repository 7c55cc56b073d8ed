// Builds the `nerv` command line into plain JavaScript (dist/cli/nerv.mjs), so that a call runs
// compiled code instead of compiling the sources first (tsx took ~1.7 s of every call). What only
// one command needs (the intent model of `nerv ask`) is split into chunks loaded on first use.
// better-sqlite3 stays external: it is a native addon.
import { build } from "esbuild"
import { rmSync } from "node:fs"

// Chunks are named by their content: the ones of an earlier build would pile up.
rmSync("dist/cli", { recursive: true, force: true })

await build({
  entryPoints: { nerv: "src/bin.ts" },
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3"],
  outdir: "dist/cli",
  outExtension: { ".js": ".mjs" },
  logLevel: "warning",
  // Bundled CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" }
})
