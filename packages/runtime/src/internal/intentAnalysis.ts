/**
 * One request through the pipeline: spans (documents, versions, times, quotes), the classifier on
 * the request with placeholders, then the slots of the intent it chose. Pure and synchronous: the
 * model and the stemmer are loaded before.
 */
import { features, type Model, probabilities, type Stemmer } from "./intentModel.js"
import { fill, type Slots } from "./intentSlots.js"
import { type DocumentSummary, findSpans, placeholders, type Spans } from "./intentSpans.js"

/** What a request is read against: the documents it may name, the time now, who asks. */
export interface Situation {
  readonly documents: ReadonlyArray<DocumentSummary>
  /** Epoch milliseconds. */
  readonly now: number
  /** The principal, for "my documents". */
  readonly me?: string | undefined
}

/** One intent and how likely the classifier finds it. */
export interface Ranked {
  readonly intent: string
  readonly confidence: number
}

/** The analysis of one request, before it is checked and typed. */
export interface Analysis {
  readonly intent: string
  readonly confidence: number
  readonly ranking: ReadonlyArray<Ranked>
  readonly slots: Slots
  readonly spans: Spans
}

/** The out-of-scope class of the corpus. */
export const outOfScope = "none"

/** Below this, the best intent is not trusted: the request is not understood. */
export const minimumConfidence = 0.4

/** The features of a request, as the model was trained on them. */
export const featuresOf = (stem: Stemmer, text: string, spans: Spans): Array<string> =>
  features(stem(placeholders(text, spans)))

const readIntents = new Set(["show", "at", "asOf"])

/**
 * The three ways to read one document differ by one slot, which the spans tell for certain: a time
 * means "as of", a version means "at", neither means "show".
 */
const byReadSlot = (intent: string, spans: Spans): string => {
  if (!readIntents.has(intent)) return intent
  if (spans.times.length > 0) return "asOf"
  if (spans.versions.some((v) => v.value !== "latest")) return "at"
  return intent === "show" ? "show" : intent
}

/** Analyses one request. */
export const analyze = (model: Model, stem: Stemmer, text: string, situation: Situation): Analysis => {
  const spans = findSpans(text, situation.documents, situation.now)
  const p = probabilities(model, featuresOf(stem, text, spans))
  const ranking = model.intents
    .map((intent, i) => ({ intent, confidence: p[i]! }))
    .sort((a, b) => b.confidence - a.confidence)
  const best = ranking[0]!
  const intent = best.intent === outOfScope ? outOfScope : byReadSlot(best.intent, spans)
  const slots = intent === outOfScope ? {} : fill(intent, text, spans, situation)
  return { intent, confidence: best.confidence, ranking, slots, spans }
}
