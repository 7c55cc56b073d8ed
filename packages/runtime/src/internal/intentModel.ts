/**
 * The intent classifier: multinomial logistic regression over the words of a request (as wink-nlp
 * tokenises and stems them), pairs of neighbouring words, and the letter trigrams of each word
 * (which keep a typo close to the word it misspells). Trained by stochastic gradient descent in a
 * fixed order, so the same corpus always gives the same model, byte for byte.
 */

/** Turns a request (already lower case, with placeholders) into the stems of its words. */
export type Stemmer = (text: string) => ReadonlyArray<string>

/** A trained model: the intents it tells apart and one weight per intent for each feature. */
export interface Model {
  readonly intents: ReadonlyArray<string>
  readonly weights: ReadonlyMap<string, Float64Array>
}

/** How the model is written down (before it is sealed). */
export interface ModelJson {
  readonly intents: ReadonlyArray<string>
  readonly weights: Record<string, ReadonlyArray<number>>
}

const placeholderWords = new Set(["docref", "timeref", "vernum", "quoted"])

/** The features of a request. */
export const features = (stems: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (const stem of stems) out.push(`w:${stem}`)
  for (let i = 0; i + 1 < stems.length; i++) out.push(`b:${stems[i]} ${stems[i + 1]}`)
  for (const stem of stems) {
    if (placeholderWords.has(stem) || stem.length < 3) continue
    const padded = `<${stem}>`
    for (let i = 0; i + 3 <= padded.length; i++) out.push(`c:${padded.slice(i, i + 3)}`)
  }
  return out
}

/** The probability of each intent (in `model.intents` order) for these features. */
export const probabilities = (model: Model, featureList: ReadonlyArray<string>): Float64Array => {
  const k = model.intents.length
  const z = new Float64Array(k)
  for (const feature of featureList) {
    const w = model.weights.get(feature)
    if (w !== undefined) { for (let c = 0; c < k; c++) z[c]! += w[c]! }
  }
  let max = -Infinity
  for (let c = 0; c < k; c++) max = Math.max(max, z[c]!)
  let sum = 0
  for (let c = 0; c < k; c++) {
    z[c] = Math.exp(z[c]! - max)
    sum += z[c]!
  }
  for (let c = 0; c < k; c++) z[c]! /= sum
  return z
}

/** Training settings, chosen on the training split alone (never on the test split). */
const epochs = 30
const rate = 0.5
const decay = 1e-4

/** Trains a model on labelled examples (their features and intent). */
export const train = (
  examples: ReadonlyArray<{ readonly features: ReadonlyArray<string>; readonly intent: string }>
): Model => {
  const intents = [...new Set(examples.map((e) => e.intent))].sort()
  const k = intents.length
  const weights = new Map<string, Float64Array>()
  const model: Model = { intents, weights }
  const data = examples.map((e) => ({ features: e.features, y: intents.indexOf(e.intent) }))
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = 0; i < data.length; i++) {
      // A fixed stride through the examples (7919 is prime): shuffled, but the same every time.
      const example = data[(i * 7919 + epoch * 31) % data.length]!
      const p = probabilities(model, example.features)
      const step = rate / Math.sqrt(Math.max(1, example.features.length))
      for (const feature of example.features) {
        let w = weights.get(feature)
        if (w === undefined) {
          w = new Float64Array(k)
          weights.set(feature, w)
        }
        for (let c = 0; c < k; c++) w[c]! -= step * (p[c]! - (c === example.y ? 1 : 0) + decay * w[c]!)
      }
    }
  }
  return model
}

const round = (x: number) => Math.round(x * 1e5) / 1e5

/** The model as JSON-ready data; weights are rounded to 5 decimals. */
export const toJson = (model: Model): ModelJson => {
  const weights: Record<string, ReadonlyArray<number>> = {}
  for (const [feature, w] of model.weights) weights[feature] = Array.from(w, round)
  return { intents: model.intents, weights }
}

/** A model from its JSON form; `undefined` if the shape is wrong. */
export const fromJson = (json: unknown): Model | undefined => {
  if (typeof json !== "object" || json === null) return undefined
  const { intents, weights } = json as { readonly intents?: unknown; readonly weights?: unknown }
  if (!Array.isArray(intents) || !intents.every((i) => typeof i === "string")) return undefined
  if (typeof weights !== "object" || weights === null) return undefined
  const map = new Map<string, Float64Array>()
  for (const [feature, w] of Object.entries(weights)) {
    if (!Array.isArray(w) || w.length !== intents.length || !w.every((x) => typeof x === "number")) return undefined
    map.set(feature, Float64Array.from(w))
  }
  return { intents, weights: map }
}
