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
 * guarded door (`intent:analyze`), and runs what was understood through `SecureDocuments`.
 *
 * @since 0.1.0
 */
import { Document, Errors, Input } from "@nerv/core"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import type { ItsFunction } from "wink-nlp"
import trainJson from "./intent/train.json" with { type: "json" }
import { analyze as analyzeText, featuresOf, minimumConfidence, outOfScope } from "./internal/intentAnalysis.js"
import { type Model, type Stemmer, train } from "./internal/intentModel.js"
import { loadOrTrain, type ModelSource } from "./internal/intentModelFile.js"
import type { Slots } from "./internal/intentSlots.js"
import { findSpans } from "./internal/intentSpans.js"
import { Cipher } from "./security/Cipher.js"

/**
 * The intents `nerv ask` knows.
 *
 * @since 0.1.0
 */
export const Intent = Schema.Literal(
  "create",
  "update",
  "delete",
  "show",
  "list",
  "history",
  "at",
  "asOf",
  "diff",
  "forget"
)

/**
 * @since 0.1.0
 */
export type Intent = typeof Intent.Type

/**
 * A document a request named, resolved: its id and its title as stored.
 *
 * @since 0.1.0
 */
export const DocumentRef = Schema.Struct({ id: Document.DocumentId, title: Schema.String })

/**
 * @since 0.1.0
 */
export type DocumentRef = typeof DocumentRef.Type

/**
 * The commands a request can become, one per intent, with their slots typed as the document
 * programs type them. `author` of `create` is only what the request said; the guarded door records
 * the principal.
 *
 * @since 0.1.0
 */
export const Command = Schema.Union(
  Schema.TaggedStruct("create", {
    title: Document.Title,
    content: Document.Content,
    author: Schema.optionalWith(Document.Actor, { exact: true })
  }),
  Schema.TaggedStruct("update", {
    document: DocumentRef,
    title: Schema.optionalWith(Document.Title, { exact: true }),
    content: Schema.optionalWith(Document.Content, { exact: true })
  }).pipe(
    Schema.filter((c) => c.title !== undefined || c.content !== undefined, {
      message: () => "an update must change the title, the content, or both"
    })
  ),
  Schema.TaggedStruct("delete", { document: DocumentRef, reason: Document.Reason }),
  Schema.TaggedStruct("show", { document: DocumentRef }),
  Schema.TaggedStruct("list", { author: Schema.optionalWith(Document.Actor, { exact: true }) }),
  Schema.TaggedStruct("history", { document: DocumentRef }),
  Schema.TaggedStruct("at", { document: DocumentRef, version: Document.Version }),
  Schema.TaggedStruct("asOf", { document: DocumentRef, instant: Schema.DateTimeUtc }),
  Schema.TaggedStruct("diff", { document: DocumentRef, from: Document.Version, to: Document.Version }),
  Schema.TaggedStruct("forget", { document: DocumentRef })
)

/**
 * @since 0.1.0
 */
export type Command = typeof Command.Type

/**
 * Does this command change anything (and so needs a confirmation before it runs)?
 *
 * @since 0.1.0
 */
export const isChange = (command: Command): boolean =>
  command._tag === "create" || command._tag === "update" || command._tag === "delete" || command._tag === "forget"

/**
 * A document an ambiguous request may mean.
 *
 * @since 0.1.0
 */
export const Candidate = Schema.Struct({ id: Document.DocumentId, title: Schema.String, author: Schema.String })

/**
 * One of the closest intents to a request that was not understood, with an example of it.
 *
 * @since 0.1.0
 */
export const Suggestion = Schema.Struct({ intent: Intent, confidence: Schema.Number, example: Schema.String })

/**
 * What a request means, or why it does not mean one thing.
 *
 * @since 0.1.0
 */
export const Interpretation = Schema.Union(
  Schema.TaggedStruct("Understood", { text: Schema.String, command: Command, confidence: Schema.Number }),
  Schema.TaggedStruct("Ambiguous", {
    text: Schema.String,
    intent: Intent,
    mention: Schema.String,
    candidates: Schema.Array(Candidate),
    confidence: Schema.Number
  }),
  Schema.TaggedStruct("Incomplete", {
    text: Schema.String,
    intent: Intent,
    missing: Schema.Array(Schema.String),
    hint: Schema.String,
    confidence: Schema.Number
  }),
  Schema.TaggedStruct("NotUnderstood", { text: Schema.String, suggestions: Schema.Array(Suggestion) })
)

/**
 * @since 0.1.0
 */
export type Interpretation = typeof Interpretation.Type

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

/**
 * The training corpus shipped with NERV (`src/intent/train.json`).
 *
 * @since 0.1.0
 */
export const trainingCorpus: Corpus = Either.getOrThrowWith(
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

const examples: Record<Intent, string> = {
  create: "create a document called \"Plan\" with content \"Draft\"",
  update: "rename the launch plan to \"Launch 2027\"",
  delete: "delete the launch plan because it is obsolete",
  show: "show me the launch plan",
  list: "list the documents by ann",
  history: "show the history of the launch plan",
  at: "show the launch plan at version 1",
  asOf: "show the launch plan as it was yesterday",
  diff: "compare versions 1 and 2 of the launch plan",
  forget: "forget the launch plan (crypto-shred its content)"
}

const isIntent = Schema.is(Intent)
const decodeCommand = Schema.decodeUnknownEither(Command, { errors: "all" })
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

const needsDocument = (intent: Intent) => intent !== "create" && intent !== "list"

/** The command's fields from the slots, before Schema checks them. */
const commandFields = (intent: Intent, slots: Slots, document: DocumentRef | undefined) => {
  switch (intent) {
    case "create":
      return { title: slots.title, content: slots.content ?? "", author: slots.author }
    case "list":
      return { author: slots.author }
    case "asOf":
      return {
        document,
        instant: slots.instant === undefined ? undefined : DateTime.formatIso(DateTime.unsafeMake(slots.instant))
      }
    default:
      return { ...slots, document }
  }
}

const defined = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))

const missingHints: Record<string, string> = {
  title: "give it a title, e.g. called \"Plan\"",
  "title or content": "say what changes, e.g. rename it to \"New title\" or set its content to \"…\"",
  reason: "say why, e.g. \"… because it is obsolete\"",
  version: "name a version, e.g. \"at version 2\"",
  instant: "say when, e.g. \"as it was yesterday\" or \"on 2026-11-03\"",
  from: "name two versions, e.g. \"versions 1 and 3\"",
  to: "name two versions, e.g. \"versions 1 and 3\""
}

const requiredSlots: Record<Intent, ReadonlyArray<keyof Slots>> = {
  create: ["title"],
  update: [],
  delete: ["reason"],
  show: [],
  list: [],
  history: [],
  at: ["version"],
  asOf: ["instant"],
  diff: ["from", "to"],
  forget: []
}

/** Turns an analysis into the typed answer. */
const interpret = (
  text: string,
  analysis: ReturnType<typeof analyzeText>
): Interpretation => {
  const suggestions = () =>
    analysis.ranking.filter((r) => isIntent(r.intent)).slice(0, 3).map((r) => ({
      intent: r.intent as Intent,
      confidence: r.confidence,
      example: examples[r.intent as Intent]
    }))
  if (analysis.intent === outOfScope || analysis.confidence < minimumConfidence || !isIntent(analysis.intent)) {
    return { _tag: "NotUnderstood", text, suggestions: suggestions() }
  }
  const intent = analysis.intent
  const { confidence, slots } = analysis
  const incomplete = (missing: ReadonlyArray<string>, hint: string): Interpretation => ({
    _tag: "Incomplete",
    text,
    intent,
    missing,
    hint,
    confidence
  })
  let document: DocumentRef | undefined
  if (needsDocument(intent)) {
    const mention = slots.document
    if (mention === undefined) {
      return incomplete(["document"], "name the document by its title or its id")
    }
    if (mention.candidates.length === 0) {
      return incomplete(["document"], `no document you can read is named "${mention.text}": check the title or the id`)
    }
    if (mention.candidates.length > 1) {
      return {
        _tag: "Ambiguous",
        text,
        intent,
        mention: mention.text,
        candidates: mention.candidates.map((c) => ({
          id: c.id as Document.DocumentId,
          title: c.title,
          author: c.author
        })),
        confidence
      }
    }
    const only = mention.candidates[0]!
    document = { id: only.id as Document.DocumentId, title: only.title }
  }
  const missing: Array<string> = requiredSlots[intent].filter((slot) => slots[slot] === undefined)
  if (intent === "update" && slots.title === undefined && slots.content === undefined) missing.push("title or content")
  if (missing.length > 0) return incomplete(missing, missing.map((m) => missingHints[m] ?? m).join("; "))
  return Either.match(decodeCommand({ _tag: intent, ...defined(commandFields(intent, slots, document)) }), {
    onLeft: (error) => incomplete([], ParseResult.TreeFormatter.formatErrorSync(error)),
    onRight: (command) => ({ _tag: "Understood" as const, text, command, confidence })
  })
}

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
export const layerMemory = (corpus: Corpus = trainingCorpus): Layer.Layer<IntentAnalyzer> =>
  Layer.effect(
    IntentAnalyzer,
    make(Effect.map(loadStemmer, (stem) => ({
      model: trainModel(corpus, stem),
      info: { source: "trained" as const, corpusHash: corpusHash(corpus) }
    })))
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
  corpus: Corpus = trainingCorpus
): Layer.Layer<IntentAnalyzer, never, Cipher> =>
  Layer.effect(
    IntentAnalyzer,
    Effect.flatMap(Cipher, (cipher) =>
      make(
        loadOrTrain({
          file,
          cipher,
          corpusHash: corpusHash(corpus),
          train: Effect.map(loadStemmer, (stem) => trainModel(corpus, stem))
        }).pipe(Effect.map(({ model, source }) => ({ model, info: { source, corpusHash: corpusHash(corpus) } })))
      ))
  )

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

/**
 * A synchronous analyzer trained from `corpus`, for benchmarks and evaluation scripts (the layers
 * are what programs use).
 *
 * @since 0.1.0
 */
export const makeSync: (corpus?: Corpus) => Effect.Effect<(text: string, situation: Situation) => Interpretation> = (
  corpus = trainingCorpus
) => Effect.map(loadStemmer, (stem) => fromModel(trainModel(corpus, stem), stem))
