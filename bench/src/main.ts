/**
 * `pnpm bench [--quick] [--only suite,suite]`: runs every suite (or the ones named), prints the figures side by side with ratios, and writes
 * `bench/results/latest.json` (the records, read by other tools), `latest.md` (the same as Markdown
 * tables) and `throughput.svg` (a chart of the throughput ratios).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import type { BenchContext, BenchRecord } from "./harness.js"
import { consoleTable, isNoisy, markdown, noisySpread, svgChart } from "./report.js"
import { suites } from "./suites.js"
import { targets as busTargets } from "./suites/bus.js"
import { targets as cliTargets } from "./suites/cli.js"
import { targets as durableTargets } from "./suites/durable.js"
import { targets as intentTargets } from "./suites/intent.js"
import { targets as natsTargets } from "./suites/nats.js"
import { targets as processesTargets } from "./suites/processes.js"

const quick = process.argv.includes("--quick")
const onlyAt = process.argv.indexOf("--only")
const only = onlyAt < 0 ? undefined : new Set(process.argv[onlyAt + 1]?.split(","))
const context: BenchContext = quick ? { quick, runs: 3, warmup: 1 } : { quick, runs: 7, warmup: 2 }
const started = Date.now()
const loadBefore = loadavg()
const results: Array<BenchRecord> = []
for (const suite of suites.filter((suite) => only === undefined || only.has(suite.name))) {
  console.log(`▶ ${suite.name}`)
  results.push(...(await suite.run(context)))
}
const loadAfter = loadavg()
const seconds = (Date.now() - started) / 1_000

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}`
const load = `load average ${loadBefore[0]!.toFixed(2)} before, ${loadAfter[0]!.toFixed(2)} after`
const notes: Array<string> = []
const noisy = results.filter(isNoisy)
if (noisy.length > 0) {
  notes.push(
    `${noisy.length} of ${results.length} figures spread more than ${noisySpread * 100}% between runs (⚠): ` +
      noisy.slice(0, 8).map((r) => `${r.workload} ${r.system} ${r.metric}`).join("; ") +
      (noisy.length > 8 ? "; …" : "")
  )
}
if (Math.max(loadBefore[0]!, loadAfter[0]!) > cpus().length * 0.5) {
  notes.push(`the machine was busy (${load} on ${cpus().length} CPUs): other work competed for the cores`)
}
const checks = [
  ...busTargets(results),
  ...durableTargets(results),
  ...processesTargets(results),
  ...cliTargets(results),
  ...intentTargets(results),
  ...natsTargets(results)
]
for (const check of checks) notes.push(`${check.met ? "met" : "MISSED"}: ${check.target} — measured ${check.measured}`)

console.log(consoleTable(results))
console.log("")
for (const note of notes) console.log(`• ${note}`)

// A run of some suites only is printed, not written: the results file holds one whole run.
if (only !== undefined) {
  console.log(`\n--only ${[...only].join(",")}: printed above, results files left as they were`)
} else {
  const out = join(dirname(fileURLToPath(import.meta.url)), "..", "results")
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, "latest.json"), JSON.stringify(results, null, 2) + "\n")
  const header = [
    `## Benchmark results${quick ? " (quick run: smaller workloads, a smoke check)" : ""}`,
    "",
    `\`pnpm bench${quick ? " --quick" : ""}\` on ${new Date(started).toISOString()}, ${machine}; ${load}; ` +
    `${context.runs} measured runs after ${context.warmup} warm-up per figure (median, min–max); ${
      seconds.toFixed(0)
    } s in all.`
  ]
  writeFileSync(join(out, "latest.md"), markdown(results, header, notes))
  writeFileSync(
    join(out, "throughput.svg"),
    svgChart(
      results,
      `Throughput relative to NERV (events/s ÷ the workload's first nerv-* system)${quick ? ", quick run" : ""}`
    )
  )
  console.log(
    `\nwrote ${results.length} records to bench/results/latest.json, latest.md and throughput.svg (${
      seconds.toFixed(0)
    } s)`
  )
}
