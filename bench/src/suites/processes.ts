/**
 * Several processes on one database file:
 * - `durable append processes`: the `durable append` workload (64 writers, each creating a document
 *   and updating it, group commit, synchronous=FULL) run by one process (`nerv-durable-1proc`) and
 *   shared by 4 processes of 16 writers each on one file (`nerv-durable-4proc`). Each process is
 *   started and opens the database before the clock starts; a run is the time from the signal to
 *   go until the last process is done.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type BenchContext, type BenchRecord, type Suite, summarize, throughput } from "../harness.js"

/** The bundled writer process (see `processes/writer.ts`), beside the bundled benchmark. */
const writerScript = join(dirname(fileURLToPath(import.meta.url)), "processes-writer.mjs")

interface Writer {
  readonly child: ChildProcess
  /** Resolves at the next line the process prints. */
  readonly next: () => Promise<string>
}

const startWriter = (file: string, writers: number, versions: number): Writer => {
  const child = spawn(process.execPath, [writerScript, file, `${writers}`, `${versions}`], {
    stdio: ["pipe", "pipe", "inherit"]
  })
  const lines: Array<string> = []
  const waiting: Array<(line: string) => void> = []
  let exited: Error | undefined
  child.once("exit", (code) => {
    exited = new Error(`a writer process exited (${code})`)
    for (const resume of waiting.splice(0)) resume(`EXITED ${code}`)
  })
  let buffered = ""
  child.stdout!.setEncoding("utf8").on("data", (data: string) => {
    buffered += data
    const parts = buffered.split("\n")
    buffered = parts.pop()!
    for (const line of parts) {
      const resume = waiting.shift()
      if (resume !== undefined) resume(line)
      else lines.push(line)
    }
  })
  return {
    child,
    next: () =>
      new Promise((resolve, reject) => {
        const line = lines.shift()
        if (line !== undefined) return resolve(line)
        if (exited !== undefined) return reject(exited)
        waiting.push(resolve)
      })
  }
}

/** `processes` processes sharing `writers` writers on one file: events per second of all of them. */
const measure = async (context: BenchContext, file: string, processes: number, writers: number, versions: number) => {
  const started = Array.from({ length: processes }, () => startWriter(file, writers / processes, versions))
  try {
    for (const writer of started) {
      const ready = await writer.next()
      if (ready !== "READY") throw new Error(`a writer process said ${ready}`)
    }
    return await throughput(context, async () => {
      for (const writer of started) writer.child.stdin!.write("GO\n")
      let events = 0
      for (const writer of started) {
        const done = await writer.next()
        if (!done.startsWith("DONE ")) throw new Error(`a writer process said ${done}`)
        events += Number(done.slice(5))
      }
      return events
    })
  } finally {
    for (const writer of started) writer.child.stdin!.end()
    await Promise.all(started.map((writer) => new Promise((resolve) => writer.child.once("exit", resolve))))
  }
}

const durableAppendProcesses = async (context: BenchContext): Promise<Array<BenchRecord>> => {
  const dir = mkdtempSync(join(tmpdir(), "nerv-bench-processes-"))
  try {
    const writers = 64
    const versions = context.quick ? 20 : 100
    const one = await measure(context, join(dir, "one.db"), 1, writers, versions)
    const four = await measure(context, join(dir, "four.db"), 4, writers, versions)
    return [
      summarize("durable append processes", "nerv-durable-1proc", "events/s", one),
      summarize("durable append processes", "nerv-durable-4proc", "events/s", four)
    ]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Several processes on one database.
 *
 * @since 0.1.0
 */
export const processes: Suite = {
  name: "processes",
  run: async (context) => {
    const start = Date.now()
    const records = await durableAppendProcesses(context)
    console.log(`  durable append processes: measured in ${((Date.now() - start) / 1000).toFixed(1)} s`)
    return records
  }
}

/**
 * The target of several processes on one database, checked against one run's records.
 *
 * @since 0.1.0
 */
export const targets = (records: ReadonlyArray<BenchRecord>) => {
  const median = (system: string) =>
    records.find((r) => r.workload === "durable append processes" && r.system === system)?.median
  const [one, four] = [median("nerv-durable-1proc"), median("nerv-durable-4proc")]
  return one === undefined || four === undefined ? [] : [{
    target: "nerv-durable-4proc ≥ 0.8× nerv-durable-1proc (durable append processes)",
    measured: `${(four / one).toFixed(2)}×`,
    met: four / one >= 0.8
  }]
}
