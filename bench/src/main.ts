/**
 * `pnpm bench [--quick]`: runs every suite and writes `bench/results/latest.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchContext, BenchRecord } from "./harness.js"
import { suites } from "./suites.js"

const quick = process.argv.includes("--quick")
const context: BenchContext = quick ? { quick, runs: 3, warmup: 1 } : { quick, runs: 7, warmup: 2 }
const results: Array<BenchRecord> = []
for (const suite of suites) {
  console.log(`▶ ${suite.name}`)
  results.push(...(await suite.run(context)))
}
const out = join(dirname(fileURLToPath(import.meta.url)), "..", "results")
mkdirSync(out, { recursive: true })
writeFileSync(join(out, "latest.json"), JSON.stringify(results, null, 2) + "\n")
console.log(`wrote ${results.length} records to bench/results/latest.json`)
