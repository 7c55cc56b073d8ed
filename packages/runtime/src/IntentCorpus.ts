/**
 * The labelled corpus intent analysis learns from and is measured on: its Schema, the training
 * split shipped in `src/intent/train.json`, the hash a trained model is saved with, and `evaluate`
 * (intent accuracy and slot F1 on a split, such as the frozen test split in
 * `test/intent/test-split.json`). See docs/intent.md.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import trainJson from "./intent/train.json" with { type: "json" }
import type { Situation } from "./IntentAnalyzer.js"
import { type DocumentRef, Intent, type Interpretation } from "./IntentCommand.js"
import { outOfScope } from "./internal/intentAnalysis.js"

/**
 * A labelled corpus: utterances with their intent (`none` for out of scope) and expected slots, and
 * the situation their slots resolve against.
 *
 * @since 0.1.0
 */
export const Corpus = Schema.Struct({
  about: Schema.optional(Schema.String),
  context: Schema.Struct({
    now: Schema.String,
    me: Schema.String,
    documents: Schema.Array(
      Schema.Struct({ id: Schema.String, title: Schema.String, author: Schema.String, version: Schema.Number })
    )
  }),
  utterances: Schema.Array(Schema.Struct({
    text: Schema.String,
    intent: Schema.Union(Intent, Schema.Literal(outOfScope)),
    slots: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) }))
  }))
})

/**
 * @since 0.1.0
 */
export type Corpus = typeof Corpus.Type

/**
 * Decodes a corpus, or explains what is wrong with it.
 *
 * @since 0.1.0
 */
export const decodeCorpus = (input: unknown): Either.Either<Corpus, string> =>
  Schema.decodeUnknownEither(Corpus, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Either.mapLeft((error) => ParseResult.TreeFormatter.formatErrorSync(error))
  )

let shipped: Corpus | undefined

/**
 * The training corpus shipped with NERV (`src/intent/train.json`), decoded on first use: every
 * `nerv` command builds the analyzer's layer, and only `ask` needs the corpus.
 *
 * @since 0.1.0
 */
export const trainingCorpus = (): Corpus =>
  shipped ??= Either.getOrThrowWith(
    decodeCorpus(trainJson),
    (reason) => new Error(`src/intent/train.json is not a valid corpus:\n${reason}`)
  )

/**
 * Bumped whenever the features or the training change, so that a model saved by an older NERV is
 * retrained rather than misread.
 */
const modelFormat = 1

/**
 * The hash a model is saved with: the corpus it was trained on and the model format.
 *
 * @since 0.1.0
 */
export const corpusHash = (corpus: Corpus): string =>
  createHash("sha256").update(JSON.stringify([modelFormat, corpus.context, corpus.utterances])).digest("hex")

/**
 * The flat slots of an interpretation (a document by its title, an instant in ISO), as the corpus
 * labels them: what `evaluate` compares.
 *
 * @since 0.1.0
 */
export const slotsOf = (interpretation: Interpretation): Record<string, string | number> => {
  if (interpretation._tag !== "Understood") return {}
  const out: Record<string, string | number> = {}
  for (const [key, value] of Object.entries(interpretation.command)) {
    if (key === "_tag" || value === undefined) continue
    if (key === "document") out.document = (value as DocumentRef).title
    else if (DateTime.isDateTime(value)) out[key] = DateTime.formatIso(value)
    else if (key === "content" && value === "" && interpretation.command._tag === "create") continue
    else out[key] = value as string | number
  }
  return out
}

/**
 * The intent of an interpretation, `none` when it was not understood.
 *
 * @since 0.1.0
 */
export const intentOf = (interpretation: Interpretation): Intent | typeof outOfScope =>
  interpretation._tag === "Understood"
    ? interpretation.command._tag
    : interpretation._tag === "NotUnderstood"
    ? outOfScope
    : interpretation.intent

/**
 * How well an analyzer reads a labelled split: intent accuracy (out of scope counts as an intent),
 * and micro-averaged slot precision, recall and F1 over every (slot, value) pair.
 *
 * @since 0.1.0
 */
export interface Evaluation {
  readonly utterances: number
  readonly accuracy: number
  readonly slotPrecision: number
  readonly slotRecall: number
  readonly slotF1: number
  readonly misses: ReadonlyArray<{ readonly text: string; readonly expected: string; readonly got: string }>
}

/**
 * Evaluates an analyzer on a labelled split, in the split's own situation.
 *
 * @since 0.1.0
 */
export const evaluate = (
  analyze: (text: string, situation: Situation) => Interpretation,
  split: Corpus
): Evaluation => {
  const situation: Situation = {
    documents: split.context.documents,
    now: DateTime.unsafeMake(split.context.now),
    me: split.context.me
  }
  let correct = 0
  let truePositives = 0
  let predicted = 0
  let expected = 0
  const misses: Array<{ text: string; expected: string; got: string }> = []
  for (const utterance of split.utterances) {
    const interpretation = analyze(utterance.text, situation)
    const intent = intentOf(interpretation)
    if (intent === utterance.intent) correct++
    else misses.push({ text: utterance.text, expected: utterance.intent, got: intent })
    const got = slotsOf(interpretation)
    const want = utterance.slots ?? {}
    predicted += Object.keys(got).length
    expected += Object.keys(want).length
    for (const [key, value] of Object.entries(want)) if (got[key] === value) truePositives++
  }
  const precision = predicted === 0 ? 1 : truePositives / predicted
  const recall = expected === 0 ? 1 : truePositives / expected
  return {
    utterances: split.utterances.length,
    accuracy: correct / split.utterances.length,
    slotPrecision: precision,
    slotRecall: recall,
    slotF1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    misses
  }
}
