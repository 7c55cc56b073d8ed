/**
 * `distributed dispatch`: the dispatcher's work spread over three worker processes by NATS
 * JetStream (the server on `NERV_NATS_URL`, else 127.0.0.1:4222), against the same publishes and
 * acknowledgements made with the raw client.
 *
 * - `nerv-nats`: `NatsDispatcher` in this process publishes (sealed, in batches, every publish
 *   sent before any acknowledgement is awaited); three worker processes run a handler of it.
 * - `jetstream-raw`: `js.publish` of the same events as JSON (with the same message ids, pipelined
 *   the same way) to a stream; three worker processes share one durable pull consumer, parse, ack.
 *
 * Every handled event is reported by its worker on a plain NATS subject, with its latency (from the
 * publisher's stamp to the start of the handler, on the machine's clock, shared by the processes).
 * `events/s`: events published and handled per second, 3 workers, until the last one is reported.
 * `p99 ms`: the latency's 99th percentile at 1,000 events/s, each published on its own.
 * Targets: nerv-nats at least 0.5× jetstream-raw's events/s, and p99 under 10 ms.
 */
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { BusCodec, Cipher, Keyring, NatsClient, NatsDispatcher } from "@nerv/runtime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { type BenchContext, type BenchRecord, type Suite, summarize } from "../harness.js"
import type { Tick } from "../natsTick.js"
import { Tick as TickSchema } from "../natsTick.js"

const workload = "distributed dispatch"
const url = process.env["NERV_NATS_URL"] ?? "nats://127.0.0.1:4222"
const workers = 3
const batch = 500
const now = () => performance.timeOrigin + performance.now()
const encoder = new TextEncoder()

type System = "nerv-nats" | "jetstream-raw"

/** How one system publishes: a batch (pipelined), or one event at a time (awaited). */
interface Publisher {
  readonly publishAll: (ticks: ReadonlyArray<Tick>) => Promise<void>
  readonly close: () => Promise<void>
}

const workerScript = join(dirname(fileURLToPath(import.meta.url)), "nats-worker.mjs")

const startWorkers = (system: System, prefix: string, keys: string): Promise<Array<ChildProcess>> =>
  Promise.all(Array.from({ length: workers }, () =>
    new Promise<ChildProcess>((resolve, reject) => {
      const child = spawn(process.execPath, [workerScript, system === "nerv-nats" ? "nerv" : "raw", url, prefix], {
        env: { ...process.env, NERV_MASTER_KEYS: keys },
        stdio: ["ignore", "pipe", "inherit"]
      })
      child.stdout!.setEncoding("utf8").on("data", (data: string) => {
        if (data.includes("READY")) resolve(child)
      })
      child.on("exit", (code) => reject(new Error(`a ${system} worker exited (${code}) before it was ready`)))
    })))

/** Counts the workers' reports; `until(n)` resolves when `n` events have been reported since `reset`. */
const reports = (nc: NatsConnection, prefix: string) => {
  let count = 0
  let latencies: Array<number> = []
  let waiting: { readonly n: number; readonly resolve: () => void } | undefined
  nc.subscribe(`${prefix}.done`, {
    callback: (_error, msg) => {
      const text = new TextDecoder().decode(msg.data)
      latencies.push(Number(text.slice(text.indexOf(" ") + 1)))
      count++
      if (waiting !== undefined && count >= waiting.n) {
        const { resolve } = waiting
        waiting = undefined
        resolve()
      }
    }
  })
  return {
    reset: () => {
      count = 0
      latencies = []
    },
    until: (n: number) => new Promise<void>((resolve) => (count >= n ? resolve() : (waiting = { n, resolve }))),
    latencies: () => latencies
  }
}

const nervPublisher = (prefix: string, keys: string): Effect.Effect<Publisher, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Layer.merge(
      NatsClient.layer({ servers: url, name: "bench-nerv-publisher" }),
      BusCodec.layerWire.pipe(Layer.provide(Cipher.layer), Layer.provide(Keyring.layer(keys)))
    ))
    const dispatcher = yield* NatsDispatcher.make({ schema: TickSchema, prefix }).pipe(Effect.provide(context))
    return {
      publishAll: (ticks) => Effect.runPromise(Effect.asVoid(Effect.orDie(dispatcher.publishAll(ticks)))),
      close: () => Promise.resolve()
    }
  })

const rawPublisher = async (prefix: string): Promise<Publisher> => {
  const nc = await connect({ servers: url, name: "bench-raw-publisher" })
  const js = jetstream(nc)
  const subject = `${prefix}.raw`
  return {
    publishAll: async (ticks) => {
      await Promise.all(
        ticks.map((tick) => js.publish(subject, encoder.encode(JSON.stringify(tick)), { msgID: tick.eventId }))
      )
    },
    close: () => nc.close()
  }
}

let runs = 0
const ticks = (count: number): Array<Tick> => {
  const run = ++runs
  return Array.from({ length: count }, (_, n) => ({ _tag: "Tick", eventId: `r${run}-${n}`, n, sentAt: 0 }))
}

/** Publishes `count` events in batches; the seconds until every one was reported handled. */
const throughputOnce = async (publisher: Publisher, report: ReturnType<typeof reports>, count: number) => {
  report.reset()
  const events = ticks(count)
  const start = performance.now()
  for (let i = 0; i < events.length; i += batch) {
    const slice = events.slice(i, i + batch).map((tick) => ({ ...tick, sentAt: now() }))
    await publisher.publishAll(slice)
  }
  await report.until(count)
  return count / ((performance.now() - start) / 1_000)
}

/** Publishes at `rate` per second, one event at a time; the p99 of the handlers' latencies, in ms. */
const latencyOnce = async (publisher: Publisher, report: ReturnType<typeof reports>, rate: number, count: number) => {
  report.reset()
  const events = ticks(count)
  const interval = 1_000 / rate
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const due = start + i * interval
    while (performance.now() < due) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now() - 1)))
    }
    await publisher.publishAll([{ ...events[i]!, sentAt: now() }])
  }
  await report.until(count)
  const sorted = Float64Array.from(report.latencies()).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))]!
}

const run = async (context: BenchContext): Promise<ReadonlyArray<BenchRecord>> => {
  const count = context.quick ? 10_000 : 50_000
  const latencyCount = context.quick ? 1_000 : 3_000
  const keys = Keyring.generate("bench")
  const nc = await connect({ servers: url, name: "bench" })
  const jsm = await jetstreamManager(nc)
  const samples = new Map<System, { throughput: Array<number>; p99: Array<number> }>()
  for (const system of ["nerv-nats", "jetstream-raw"] as const) {
    const prefix = `bench-${randomBytes(4).toString("hex")}`
    const report = reports(nc, prefix)
    let children: Array<ChildProcess> = []
    const scope = Effect.runSync(Scope.make())
    try {
      let publisher: Publisher
      if (system === "jetstream-raw") {
        await jsm.streams.add({
          name: `${prefix}-raw`,
          subjects: [`${prefix}.raw`],
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          storage: StorageType.File,
          duplicate_window: 120 * 1e9
        })
        children = await startWorkers(system, prefix, keys)
        publisher = await rawPublisher(prefix)
      } else {
        // The publisher's dispatcher creates the streams; the workers join them.
        publisher = await Effect.runPromise(Scope.extend(nervPublisher(prefix, keys), scope))
        children = await startWorkers(system, prefix, keys)
      }
      const mine = { throughput: [] as Array<number>, p99: [] as Array<number> }
      for (let i = 0; i < context.warmup; i++) await throughputOnce(publisher, report, count)
      for (let i = 0; i < context.runs; i++) mine.throughput.push(await throughputOnce(publisher, report, count))
      await latencyOnce(publisher, report, 1_000, Math.min(latencyCount, 500))
      for (let i = 0; i < context.runs; i++) mine.p99.push(await latencyOnce(publisher, report, 1_000, latencyCount))
      samples.set(system, mine)
      await publisher.close()
    } finally {
      for (const child of children) child.kill("SIGKILL")
      await Effect.runPromise(Scope.close(scope, Exit.void))
      for (const stream of ["work", "delay", "dlq", "raw"]) {
        await jsm.streams.delete(`${prefix}-${stream}`).catch(() => false)
      }
    }
  }
  await nc.close()
  const records: Array<BenchRecord> = []
  for (const [system, mine] of samples) {
    records.push(summarize(workload, system, "events/s", mine.throughput))
    records.push(summarize(workload, system, "p99 ms", mine.p99))
  }
  const find = (system: System, metric: string) => records.find((r) => r.system === system && r.metric === metric)!
  const ratio = find("nerv-nats", "events/s").median / find("jetstream-raw", "events/s").median
  console.log(
    `  ${workload}: nerv-nats ${find("nerv-nats", "events/s").median.toFixed(0)} events/s, jetstream-raw ` +
      `${find("jetstream-raw", "events/s").median.toFixed(0)}; nerv/raw = ${ratio.toFixed(2)}× (target ≥ 0.50×); ` +
      `p99 at 1k/s: nerv-nats ${find("nerv-nats", "p99 ms").median.toFixed(2)} ms, jetstream-raw ` +
      `${find("jetstream-raw", "p99 ms").median.toFixed(2)} ms (target < 10 ms)`
  )
  return records
}

/**
 * The suite.
 *
 * @since 0.1.0
 */
export const nats: Suite = { name: "nats", run }

/**
 * The targets, checked against one run's records.
 *
 * @since 0.1.0
 */
export const targets = (records: ReadonlyArray<BenchRecord>): Array<{
  readonly target: string
  readonly measured: string
  readonly met: boolean
}> => {
  const find = (system: string, metric: string) =>
    records.find((r) => r.workload === workload && r.system === system && r.metric === metric)
  const nerv = find("nerv-nats", "events/s")
  const raw = find("jetstream-raw", "events/s")
  const p99 = find("nerv-nats", "p99 ms")
  const out: Array<{ target: string; measured: string; met: boolean }> = []
  if (nerv && raw) {
    const ratio = nerv.median / raw.median
    out.push({
      target: "nerv-nats ≥ 0.5× jetstream-raw (events/s)",
      measured: `${ratio.toFixed(2)}×`,
      met: ratio >= 0.5
    })
  }
  if (p99) {
    out.push({
      target: "nerv-nats p99 < 10 ms at 1k events/s",
      measured: `${p99.median.toFixed(2)} ms`,
      met: p99.median < 10
    })
  }
  return out
}
