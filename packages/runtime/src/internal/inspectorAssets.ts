/**
 * The inspector's page: built into `dist/inspector/` by `build.mjs` (at install), read once when the
 * server starts and served from memory. Nothing is fetched at run time.
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

/** One file of the page. */
export interface Asset {
  readonly contentType: string
  readonly body: Uint8Array
}

/** The page's files, by the path they are served at. */
export type Assets = ReadonlyMap<string, Asset>

const files: ReadonlyArray<readonly [path: string, file: string, contentType: string]> = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/style.css", "style.css", "text/css; charset=utf-8"]
]

// From the sources (src/internal/) and from the command line's bundle (dist/cli/).
const candidates = ["../../dist/inspector", "../inspector"]

/** Where the built page is, if it was built. */
export const directory = (): string | undefined => {
  for (const candidate of candidates) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url))
    if (Fs.existsSync(Path.join(dir, "index.html"))) return dir
  }
  return undefined
}

/** Reads the page, or says how to build it. */
export const load: Effect.Effect<Assets, string> = Effect.suspend(() => {
  const dir = directory()
  if (dir === undefined) {
    return Effect.fail(
      "the inspector's page is not built: run `pnpm --filter @nerv/runtime build` (pnpm install does it)"
    )
  }
  return Effect.try({
    try: () =>
      new Map(files.map(([path, file, contentType]) => [path, {
        contentType,
        body: new Uint8Array(Fs.readFileSync(Path.join(dir, file)))
      }])),
    catch: (error) => `the inspector's page in ${dir} could not be read: ${String(error)}`
  })
})
