// Builds the `nerv` command line into plain JavaScript (dist/cli/nerv.mjs), so that a call runs
// compiled code instead of compiling the sources first (tsx took ~1.7 s of every call). What only
// one command needs (the intent model of `nerv ask`) is split into chunks loaded on first use.
// better-sqlite3 stays external: it is a native addon.
import { build } from "esbuild"
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"

// Chunks are named by their content: the ones of an earlier build would pile up.
rmSync("dist/cli", { recursive: true, force: true })

// The inspector's page (Inspector.ts serves it): one script for browsers, its HTML and CSS as they
// are. Built here, at install, so that nothing is fetched when it runs. Each file is replaced
// whole (written aside, then renamed), so a running inspector or test never reads half of one.
mkdirSync("dist/inspector", { recursive: true })
const page = await build({
  entryPoints: ["src/inspector/page/app.ts"],
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  write: false,
  outfile: "dist/inspector/app.js",
  logLevel: "warning"
})
const files = {
  "app.js": page.outputFiles[0].contents,
  "index.html": readFileSync("src/inspector/page/index.html"),
  "style.css": readFileSync("src/inspector/page/style.css")
}
for (const [file, contents] of Object.entries(files)) {
  writeFileSync(`dist/inspector/${file}.tmp`, contents)
  renameSync(`dist/inspector/${file}.tmp`, `dist/inspector/${file}`)
}

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
