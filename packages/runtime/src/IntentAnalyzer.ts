/**
 * Intent analysis: a short request in plain English ("show me how the launch plan looked at
 * version 1") becomes a typed NERV command with its slots, or a typed answer saying why not:
 * `Ambiguous` (the title fits several documents, listed), `Incomplete` (a slot is missing, e.g. why
 * delete) or `NotUnderstood` (with the closest intents and an example of each).
 *
 * Everything runs on this machine: wink-nlp tokenises and stems, a small classifier trained from the
 * corpus in `src/intent/train.json` picks the intent, and rules read the slots around it. The trained
 * model can be kept sealed at rest under the master key (`layerSealed`), and is rebuilt from the
 * corpus when the file is missing, does not open, or was trained on another corpus. See
 * docs/intent.md for the library choice, the corpus and its frozen test split, and how to add
 * utterances.
 *
 * The service itself checks no permission and writes no audit record: `SecureIntents` is the
 * guarded door (`intent:analyze`), and runs what was understood through the document programs (`Documents`, `Admin`).
 *
 * @since 0.1.0
 */
import { type Errors, Input } from "@nerv/core"
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { ItsFunction } from "wink-nlp"
import type { Interpretation } from "./IntentCommand.js"
import { type Corpus, corpusHash, trainingCorpus } from "./IntentCorpus.js"
import { analyze as analyzeText, featuresOf } from "./internal/intentAnalysis.js"
import { interpret } from "./internal/intentInterpretation.js"
import { type Model, type Stemmer, train } from "./internal/intentModel.js"
import { loadOrTrain, type ModelSource } from "./internal/intentModelFile.js"
import { findSpans } from "./internal/intentSpans.js"
import { Cipher } from "./security/Cipher.js"

/**
 * What a request is read against: the documents it may name (by id or title), the time now (for
 * "yesterday"), and who asks (for "my documents").
 *
 * @since 0.1.0
 */
export interface Situation {
  readonly documents: ReadonlyArray<
    { readonly id: string; readonly title: string; readonly author: string; readonly version: number }
  >
  readonly now: DateTime.Utc
  readonly me?: string | undefined
}

/**
 * Where the model in use came from: read from its sealed file, or trained from the corpus (none
 * was saved, the file did not open, or it was trained on another corpus).
 *
 * @since 0.1.0
 */
export interface ModelInfo {
  readonly source: ModelSource
  readonly corpusHash: string
}

/**
 * @since 0.1.0
 */
export interface IntentAnalyzerService {
  /** Reads a request (1 to 500 characters) against a situation. */
  readonly analyze: (text: string, situation: Situation) => Effect.Effect<Interpretation, Errors.InvalidInput>
  /** The model in use (loading or training it, the first time). */
  readonly model: Effect.Effect<ModelInfo>
}

/**
 * The intent analyzer.
 *
 * @since 0.1.0
 */
export class IntentAnalyzer extends Context.Tag("@nerv/runtime/IntentAnalyzer")<
  IntentAnalyzer,
  IntentAnalyzerService
>() {}

const decodeText = Input.decoder(
  "IntentAnalyzer.analyze",
  Schema.compose(
    Schema.Trim,
    Schema.String.pipe(
      Schema.minLength(1, { message: () => "say what to do, e.g. \"show me the launch plan\"" }),
      Schema.maxLength(500, { message: () => "a request is at most 500 characters" })
    )
  )
)

const situationOf = (corpus: Corpus) => ({
  documents: corpus.context.documents,
  now: Date.parse(corpus.context.now),
  me: corpus.context.me
})

/**
 * wink-nlp's tokeniser and stemmer, loaded on first use (its English model takes ~100 ms to load,
 * which no other command should pay).
 */
const loadStemmer: Effect.Effect<Stemmer> = Effect.promise(async () => {
  const [{ default: winkNLP }, { default: english }] = await Promise.all([
    import("wink-nlp"),
    import("wink-eng-lite-web-model")
  ])
  // No pipeline: tokens and their stems are all the classifier reads.
  const nlp = winkNLP(english, [])
  const its = nlp.its
  // wink-nlp 2.4's typings give `its.stem` a third parameter (addons) where `out` passes a cache;
  // at run time `out` passes the addons, so this only restates what the library does.
  const stemOf = its.stem as ItsFunction<string>
  const wordlike = /[\p{L}\p{N}]/u
  // Punctuation carries no intent: only the stems of words and numbers are kept.
  return (text: string) => nlp.readDoc(text).tokens().out(stemOf).filter((stem) => wordlike.test(stem))
})

/**
 * Trains a model on a corpus.
 *
 * @since 0.1.0
 */
export const trainModel = (corpus: Corpus, stem: Stemmer): Model => {
  const situation = situationOf(corpus)
  return train(corpus.utterances.map((u) => ({
    intent: u.intent,
    features: featuresOf(stem, u.text, findSpans(u.text, situation.documents, situation.now))
  })))
}

/**
 * An analyzer from a trained model and a stemmer (what the layers build).
 *
 * @since 0.1.0
 */
export const fromModel = (model: Model, stem: Stemmer) => (text: string, situation: Situation): Interpretation => {
  const analysis = analyzeText(model, stem, text, {
    documents: situation.documents,
    now: situation.now.epochMillis,
    me: situation.me
  })
  return interpret(text, analysis)
}

/**
 * Builds the service; the model is loaded (or trained) on first use, by `load`.
 */
const make = (load: Effect.Effect<{ readonly model: Model; readonly info: ModelInfo }>) =>
  Effect.gen(function*() {
    const ready = yield* Effect.cached(
      Effect.zipWith(load, loadStemmer, ({ info, model }, stem) => ({ info, analyze: fromModel(model, stem) }))
    )
    return IntentAnalyzer.of({
      analyze: (text, situation) =>
        Effect.flatMap(decodeText(text), (decoded) => Effect.map(ready, (r) => r.analyze(decoded, situation))),
      model: Effect.map(ready, (r) => r.info)
    })
  })

/**
 * The analyzer with a model trained in memory from `corpus` (default: the shipped one) on first
 * use; nothing is written anywhere.
 *
 * @since 0.1.0
 */
export const layerMemory = (corpus?: Corpus): Layer.Layer<IntentAnalyzer> =>
  Layer.effect(
    IntentAnalyzer,
    make(Effect.map(loadStemmer, (stem) => {
      const trainOn = corpus ?? trainingCorpus()
      return { model: trainModel(trainOn, stem), info: { source: "trained" as const, corpusHash: corpusHash(trainOn) } }
    }))
  )

/**
 * The analyzer with its model kept in `file`, sealed with the master key (`Cipher`, AES-256-GCM):
 * read on first use if it opens and was trained on this corpus; otherwise (missing, tampered, sealed
 * under a key the keyring lacks, another corpus) trained again and the file replaced. A file that
 * cannot be written is logged, and the model lives in memory until the next start.
 *
 * @since 0.1.0
 */
export const layerSealed = (
  file: string,
  corpus?: Corpus
): Layer.Layer<IntentAnalyzer, never, Cipher> =>
  Layer.effect(
    IntentAnalyzer,
    Effect.flatMap(Cipher, (cipher) =>
      make(Effect.suspend(() => {
        // On first use: the corpus and its hash cost ~30 ms, which commands other than ask skip.
        const trainOn = corpus ?? trainingCorpus()
        const hash = corpusHash(trainOn)
        return loadOrTrain({
          file,
          cipher,
          corpusHash: hash,
          train: Effect.map(loadStemmer, (stem) => trainModel(trainOn, stem))
        }).pipe(Effect.map(({ model, source }) => ({ model, info: { source, corpusHash: hash } })))
      })))
  )

/**
 * A synchronous analyzer trained from `corpus`, for benchmarks and evaluation scripts (the layers
 * are what programs use).
 *
 * @since 0.1.0
 */
export const makeSync: (corpus?: Corpus) => Effect.Effect<(text: string, situation: Situation) => Interpretation> = (
  corpus
) => Effect.map(loadStemmer, (stem) => fromModel(trainModel(corpus ?? trainingCorpus(), stem), stem))
