/**
 * Intent analysis (`nerv ask`): the analyzer trained on the shipped corpus, read on the frozen test
 * split (never trained on). Records, per run: intent `accuracy`, `slot f1` (micro-averaged over
 * every slot and value) and the `p99 ms` of one request's analysis (spans, classifier, slots; the
 * model already loaded, as in a running service). Targets: accuracy ≥ 0.9, slot F1 ≥ 0.85,
 * p99 ≤ 5 ms.
 */
import { IntentAnalyzer, IntentCorpus } from "@nerv/runtime"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type BenchContext, type BenchRecord, type Suite, summarize } from "../harness.js"

const workload = "intent"
const system = "nerv-intent"

/** The frozen split, read from the repository (bench/dist/bench.mjs → packages/runtime/test/intent). */
const testSplit = (): IntentCorpus.Corpus => {
  const file = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "packages/runtime/test/intent/test-split.json")
  const decoded = IntentCorpus.decodeCorpus(JSON.parse(readFileSync(file, "utf8")))
  if (decoded._tag === "Left") throw new Error(`${file} is not a valid corpus:\n${decoded.left}`)
  return decoded.right
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!

const run = async (context: BenchContext): Promise<ReadonlyArray<BenchRecord>> => {
  const split = testSplit()
  const analyze = await Effect.runPromise(IntentAnalyzer.makeSync())
  const situation: IntentAnalyzer.Situation = {
    documents: split.context.documents,
    now: DateTime.unsafeMake(split.context.now),
    me: split.context.me
  }
  // Each pass reads every utterance of the split several times, so a p99 has enough requests.
  const repeats = context.quick ? 5 : 20
  const pass = () => {
    const times: Array<number> = []
    for (let r = 0; r < repeats; r++) {
      for (const utterance of split.utterances) {
        const start = process.hrtime.bigint()
        analyze(utterance.text, situation)
        times.push(Number(process.hrtime.bigint() - start) / 1e6)
      }
    }
    return times.sort((a, b) => a - b)
  }
  for (let i = 0; i < context.warmup; i++) pass()
  const samples = { accuracy: [] as Array<number>, f1: [] as Array<number>, p99: [] as Array<number> }
  for (let i = 0; i < context.runs; i++) {
    const evaluation = IntentCorpus.evaluate(analyze, split)
    samples.accuracy.push(evaluation.accuracy)
    samples.f1.push(evaluation.slotF1)
    samples.p99.push(percentile(pass(), 0.99))
  }
  const records = [
    summarize(workload, system, "accuracy", samples.accuracy),
    summarize(workload, system, "slot f1", samples.f1),
    summarize(workload, system, "p99 ms", samples.p99)
  ]
  console.log(
    `  ${workload}: accuracy ${records[0]!.median.toFixed(3)} (target ≥ 0.9), slot F1 ${
      records[1]!.median.toFixed(3)
    } (≥ 0.85), p99 ${records[2]!.median.toFixed(3)} ms per request (≤ 5 ms) on ${split.utterances.length} utterances`
  )
  return records
}

/**
 * The intent suite: `intent` for nerv-intent.
 *
 * @since 0.1.0
 */
export const intent: Suite = { name: "intent", run }

/**
 * The intent targets, checked against one run's records.
 *
 * @since 0.1.0
 */
export const targets = (records: ReadonlyArray<BenchRecord>): Array<{
  readonly target: string
  readonly measured: string
  readonly met: boolean
}> => {
  const median = (metric: string) => records.find((r) => r.workload === workload && r.metric === metric)?.median
  const check = (metric: string, target: string, ok: (value: number) => boolean) => {
    const value = median(metric)
    return value === undefined ? [] : [{ target: `${system} ${target}`, measured: value.toFixed(3), met: ok(value) }]
  }
  return [
    ...check("accuracy", "accuracy ≥ 0.9 (frozen test split)", (v) => v >= 0.9),
    ...check("slot f1", "slot F1 ≥ 0.85", (v) => v >= 0.85),
    ...check("p99 ms", "p99 ≤ 5 ms per request", (v) => v <= 5)
  ]
}
