/**
 * Whole processes, as users run them:
 * - `cli get 20k documents`: the compiled `nerv` command line (`node packages/runtime/dist/cli/nerv.mjs`,
 *   as the README says) answering one `get` on a sealed database of 20,000 documents, from the
 *   start of the process to its exit (`nerv-cli`), beside `node -e 0` (`node-empty`), the floor.
 * - `retained heap 1M events`: the heap a process retains after writing and reading 1M events
 *   across 100k documents with the store's default budget (`nerv`, MB).
 */
import { Access, Documents } from "@nerv/core"
import { Nerv, Rbac } from "@nerv/runtime"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type BenchContext, type BenchRecord, type Suite, summarize } from "../harness.js"

const here = dirname(fileURLToPath(import.meta.url))
/** The compiled command line, built at install (`packages/runtime/build.mjs`). */
const cli = join(here, "..", "..", "packages", "runtime", "dist", "cli", "nerv.mjs")

/** Seconds of wall time of a whole process, `runs` times after one warm-up. */
const timedProcess = (runs: number, command: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => {
  const samples: Array<number> = []
  for (let i = 0; i < runs + 1; i++) {
    const start = process.hrtime.bigint()
    const result = spawnSync(command, args, { env: { ...process.env, ...env }, encoding: "utf8" })
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    if (result.status !== 0) throw new Error(`${args.join(" ")} failed (${result.status}): ${result.stderr}`)
    if (i > 0) samples.push(seconds)
  }
  return samples
}

const cliGet = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const dir = mkdtempSync(join(tmpdir(), "nerv-bench-cli-"))
  try {
    const filename = join(dir, "nerv.db")
    const documents = context.quick ? 2_000 : 20_000
    // Eight authors who may write and read; the timed `get` runs as one of them.
    const policy = JSON.stringify({
      principals: Object.fromEntries(Array.from({ length: 8 }, (_, a) => [`author${a}`, ["author"]])),
      roles: { author: ["documents:read", "documents:write"] }
    })
    // Written as users write: sealed, by the commands, 64 at a time.
    const ids = await Effect.runPromise(
      Effect.forEach(
        Array.from({ length: documents }, (_, d) => d),
        (d) =>
          Documents.create({ title: `doc ${d}`, content: `the content of document ${d}` }).pipe(
            Access.as(`author${d % 8}`)
          ),
        { concurrency: 64 }
      ).pipe(
        Effect.provide(Nerv.layerSqlite({ filename, policy: Rbac.layerPolicy(policy) })),
        Logger.withMinimumLogLevel(LogLevel.None),
        Effect.scoped
      )
    )
    const id = ids[Math.floor(documents / 2)]!
    const runs = Math.max(context.runs, 5)
    const nerv = timedProcess(runs, process.execPath, [cli, "--database", filename, "get", id, "--as", "author0"], {
      NERV_RBAC_POLICY: policy
    })
    const empty = timedProcess(runs, process.execPath, ["-e", "0"])
    return [
      summarize("cli get 20k documents", "nerv-cli", "seconds", nerv),
      summarize("cli get 20k documents", "node-empty", "seconds", empty)
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const retainedHeap = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const dir = mkdtempSync(join(tmpdir(), "nerv-bench-heap-"))
  try {
    const [documents, versions] = context.quick ? [10_000, 10] : [100_000, 10]
    // One process: the figure is a heap after garbage collection, the same from run to run (66.3–66.3 MB).
    const runs = 1
    const samples: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const result = spawnSync(
        process.execPath,
        ["--expose-gc", join(here, "processes-heap.mjs"), join(dir, `heap-${i}.db`), `${documents}`, `${versions}`],
        { encoding: "utf8", maxBuffer: 1 << 20 }
      )
      const line = result.stdout.split("\n").find((l) => l.startsWith("HEAP "))
      if (result.status !== 0 || line === undefined) throw new Error(`the heap process failed: ${result.stderr}`)
      samples.push(Number(line.slice(5)) / (1024 * 1024))
    }
    return [summarize("retained heap 1M events", "nerv", "MB", samples)]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Whole processes: the command line's start, and a long-running process's memory.
 *
 * @since 0.1.0
 */
export const cliSuite: Suite = {
  name: "cli",
  run: async (context) => {
    const records: Array<BenchRecord> = []
    for (const [name, workload] of [["cli get", cliGet], ["retained heap", retainedHeap]] as const) {
      const start = Date.now()
      records.push(...(await workload(context)))
      console.log(`  ${name}: measured in ${((Date.now() - start) / 1000).toFixed(1)} s`)
    }
    return records
  }
}

/**
 * The targets of the whole-process workloads, checked against one run's records.
 *
 * @since 0.1.0
 */
export const targets = (records: ReadonlyArray<BenchRecord>) => {
  const median = (workload: string, system: string) =>
    records.find((r) => r.workload === workload && r.system === system)?.median
  const checks: Array<{ readonly target: string; readonly measured: string; readonly met: boolean }> = []
  const get = median("cli get 20k documents", "nerv-cli")
  if (get !== undefined) {
    checks.push({
      target: "nerv-cli ≤ 0.4 s (cli get 20k documents)",
      measured: `${get.toFixed(3)} s`,
      met: get <= 0.4
    })
  }
  const heap = median("retained heap 1M events", "nerv")
  if (heap !== undefined) {
    checks.push({
      target: "nerv ≤ 100 MB (retained heap 1M events)",
      measured: `${heap.toFixed(1)} MB`,
      met: heap <= 100
    })
  }
  const open = median("open 1M documents", "nerv")
  if (open !== undefined) {
    checks.push({ target: "nerv ≤ 1 s (open 1M documents)", measured: `${open.toFixed(3)} s`, met: open <= 1 })
  }
  return checks
}
