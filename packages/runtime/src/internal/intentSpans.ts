/**
 * What `nerv ask` finds in a request before it classifies it: quoted text, document ids, document
 * titles (typos allowed), versions and time expressions, each with where it is. The classifier sees
 * the request with these replaced by placeholders, so that "the launch plan" or "version 3" weigh as
 * "a document" or "a version", whatever their words.
 */
import { findTimes, type TimeSpan } from "./intentTime.js"

/** A document the request may name. */
export interface DocumentSummary {
  readonly id: string
  readonly title: string
  readonly author: string
  readonly version: number
}

/** Where a request names a document, and which documents it may mean. */
export interface DocumentMention {
  readonly start: number
  readonly end: number
  readonly text: string
  /** Empty: nothing matches (an unknown id); several: ambiguous. */
  readonly candidates: ReadonlyArray<DocumentSummary>
  /** A whole title or an id, rather than a few of a title's words. */
  readonly exact: boolean
}

/** A version named in a request: a number, or the document's latest. */
export interface VersionSpan {
  readonly start: number
  readonly end: number
  readonly value: number | "latest"
}

/** A quoted stretch of the request (quotes excluded from `value`). */
export interface QuoteSpan {
  readonly start: number
  readonly end: number
  readonly value: string
}

/** Everything found in one request. */
export interface Spans {
  readonly quotes: ReadonlyArray<QuoteSpan>
  readonly documents: ReadonlyArray<DocumentMention>
  readonly times: ReadonlyArray<TimeSpan>
  readonly versions: ReadonlyArray<VersionSpan>
  /** "since version 2": the range runs to the latest version. */
  readonly since: boolean
  /** "the last edit": the range is the latest version and the one before. */
  readonly lastChange: boolean
}

interface Word {
  readonly text: string
  readonly start: number
  readonly end: number
}

const wordPattern = /[\p{L}\p{N}]+(?:['’][\p{L}]+)*/gu

const wordsOf = (text: string, from = 0, to = text.length): Array<Word> => {
  const words: Array<Word> = []
  wordPattern.lastIndex = from
  for (let match = wordPattern.exec(text); match !== null && match.index < to; match = wordPattern.exec(text)) {
    // "budget 2025's" names "budget 2025"
    const bare = match[0].replace(/['’]s$/u, "")
    words.push({ text: bare.toLowerCase(), start: match.index, end: match.index + bare.length })
  }
  return words
}

/** Optimal string alignment distance, bounded: stops counting past `max`. Three reused rows. */
let rows = [new Int32Array(32), new Int32Array(32), new Int32Array(32)]
const distance = (a: string, b: string, max: number): number => {
  if (Math.abs(a.length - b.length) > max) return max + 1
  if (b.length + 1 > rows[0]!.length) rows = rows.map(() => new Int32Array(2 * (b.length + 1)))
  let [before, previous, current] = rows as [Int32Array, Int32Array, Int32Array]
  for (let j = 0; j <= b.length; j++) previous[j] = j
  for (let i = 1; i <= a.length; i++) {
    current[0] = i
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, before[j - 2]! + 1)
      current[j] = value
      best = Math.min(best, value)
    }
    if (best > max) return max + 1
    ;[before, previous, current] = [previous, current, before]
  }
  return previous[b.length]!
}

/** The same word, or the same with a typo: one edit from 4 letters on, two from 8. */
export const near = (a: string, b: string): boolean => {
  if (a === b) return true
  const shorter = Math.min(a.length, b.length)
  if (shorter < 4 || /^\d+$/.test(a) || /^\d+$/.test(b)) return false
  return distance(a, b, shorter >= 8 ? 2 : 1) <= (shorter >= 8 ? 2 : 1)
}

/** Words that say what to do, not which document: a title word alone among these names nothing. */
const generic = new Set(
  ("a an the of to in on at and or for with by from as is it its me my i you your this that these those " +
    "show open read view display get print list delete remove update edit change rename create make new add " +
    "document documents doc docs file files version versions revision revisions history content text title " +
    "please can could would what how who when which all every " +
    "diff compare forget erase shred before after since between look looked like say says said")
    .split(/\s+/)
)

const uuidPattern = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi

const quotePattern = /"([^"]+)"|“([^”]+)”|(?<=^|[\s(:])'([^']+)'(?=$|[\s,.;:!?)])/g

const findQuotes = (text: string): Array<QuoteSpan> => {
  const quotes: Array<QuoteSpan> = []
  quotePattern.lastIndex = 0
  for (let match = quotePattern.exec(text); match !== null; match = quotePattern.exec(text)) {
    quotes.push({ start: match.index, end: match.index + match[0].length, value: match[1] ?? match[2] ?? match[3]! })
  }
  return quotes
}

const inside = (spans: ReadonlyArray<{ readonly start: number; readonly end: number }>, start: number, end: number) =>
  spans.some((span) => start < span.end && span.start < end)

const titleWords = new WeakMap<DocumentSummary, Array<string>>()
const wordsOfTitle = (document: DocumentSummary) => {
  let words = titleWords.get(document)
  if (words === undefined) {
    words = wordsOf(document.title).map((w) => w.text)
    titleWords.set(document, words)
  }
  return words
}

const findDocuments = (
  text: string,
  documents: ReadonlyArray<DocumentSummary>,
  quotes: ReadonlyArray<QuoteSpan>
): Array<DocumentMention> => {
  const mentions: Array<DocumentMention> = []
  uuidPattern.lastIndex = 0
  for (let match = uuidPattern.exec(text); match !== null; match = uuidPattern.exec(text)) {
    const id = match[0].toLowerCase()
    mentions.push({
      start: match.index,
      end: match.index + match[0].length,
      text: match[0],
      candidates: documents.filter((d) => d.id.toLowerCase() === id),
      exact: true
    })
  }
  const words = wordsOf(text).filter((w) => !inside(mentions, w.start, w.end))
  // Whole titles: the longest wins; the same stretch matching several titles is ambiguous.
  const whole: Array<{ start: number; end: number; document: DocumentSummary; length: number }> = []
  for (const document of documents) {
    const title = wordsOfTitle(document)
    if (title.length === 0) continue
    for (let i = 0; i + title.length <= words.length; i++) {
      let matches = true
      for (let k = 0; k < title.length && matches; k++) matches = near(words[i + k]!.text, title[k]!)
      if (matches) {
        whole.push({ start: words[i]!.start, end: words[i + title.length - 1]!.end, document, length: title.length })
      }
    }
  }
  whole.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start)
  for (const match of whole) {
    const same = mentions.find((m) => m.exact && m.start === match.start && m.end === match.end)
    if (same !== undefined) {
      if (!same.candidates.includes(match.document)) (same.candidates as Array<DocumentSummary>).push(match.document)
      continue
    }
    if (inside(mentions, match.start, match.end)) continue
    mentions.push({
      start: match.start,
      end: match.end,
      text: text.slice(match.start, match.end),
      candidates: [match.document],
      exact: true
    })
  }
  if (mentions.some((m) => m.candidates.length > 0)) return mentions.sort((a, b) => a.start - b.start)
  // A few words of a title ("the plan"): each run of such words is one mention.
  let run: { start: number; end: number; candidates: Array<DocumentSummary> } | undefined
  const flush = () => {
    if (run !== undefined && run.candidates.length > 0) {
      mentions.push({ ...run, text: text.slice(run.start, run.end), exact: false })
    }
    run = undefined
  }
  for (const word of words) {
    if (generic.has(word.text) || word.text.length < 3 || inside(quotes, word.start, word.end)) {
      flush()
      continue
    }
    const candidates = documents.filter((d) => wordsOfTitle(d).some((t) => near(word.text, t)))
    if (candidates.length === 0) {
      flush()
      continue
    }
    if (run === undefined) run = { start: word.start, end: word.end, candidates }
    else {
      const both = run.candidates.filter((c) => candidates.includes(c))
      run = { start: run.start, end: word.end, candidates: both.length > 0 ? both : candidates }
    }
  }
  flush()
  return mentions.sort((a, b) => a.start - b.start)
}

const numberWords = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
  "twenty"
]
const ordinalWords = [
  "zeroth",
  "first",
  "second",
  "third",
  "fourth",
  "fifth",
  "sixth",
  "seventh",
  "eighth",
  "ninth",
  "tenth",
  "eleventh",
  "twelfth"
]

const numberOf = (word: string): number | undefined => {
  if (/^\d+$/.test(word)) return Number(word)
  const ordinal = /^(\d+)(?:st|nd|rd|th)$/.exec(word)
  if (ordinal !== null) return Number(ordinal[1])
  const n = numberWords.indexOf(word)
  if (n > 0) return n
  const o = ordinalWords.indexOf(word)
  return o > 0 ? o : undefined
}

const versionWord = /^(?:version|versions|ver|rev|revision|revisions|draft|drafts)$/
const number = String.raw`(\d+|${numberWords.slice(1).join("|")})`

const versionPair = new RegExp(
  String.raw`\b(?:versions|revisions|revs)\s+${number}\s*(?:and|&|,|to|-|vs\.?|with)\s*${number}\b`,
  "g"
)
const versionNumber = new RegExp(
  String.raw`\b(?:version|ver|rev|revision|draft)\s*(?:#|no\.?\s*|number\s+)?${number}\b`,
  "g"
)

const findVersions = (lower: string, taken: ReadonlyArray<{ readonly start: number; readonly end: number }>) => {
  const versions: Array<VersionSpan> = []
  const add = (start: number, end: number, value: number | "latest") => {
    if (!inside(taken, start, end) && !inside(versions, start, end) && (value === "latest" || value >= 1)) {
      versions.push({ start, end, value })
    }
  }
  const scan = (pattern: RegExp, each: (match: RegExpExecArray) => void) => {
    for (const match of lower.matchAll(pattern)) each(match as RegExpExecArray)
  }
  // versions 1 and 3, revisions 2 to 4
  scan(
    versionPair,
    (m) => {
      const second = m.index + m[0].lastIndexOf(m[2]!)
      const first = m.index + m[0].indexOf(m[1]!, m[0].search(/\s/))
      add(first, first + m[1]!.length, numberOf(m[1]!)!)
      add(second, second + m[2]!.length, numberOf(m[2]!)!)
    }
  )
  // version 3, rev 2, revision #4, draft 2
  scan(
    versionNumber,
    (m) => add(m.index, m.index + m[0].length, numberOf(m[1]!)!)
  )
  // v3, v1..v5
  scan(/\bv(\d+)\b/g, (m) => add(m.index, m.index + m[0].length, Number(m[1])))
  // the current / latest version
  scan(
    /\b(?:current|latest|newest|last)\s+(?:version|revision)\b/g,
    (m) => add(m.index, m.index + m[0].length, "latest")
  )
  scan(/\b(?:original|initial)\b/g, (m) => add(m.index, m.index + m[0].length, 1))
  // the first version, its 2nd version, the first and the second version, the first version to the fourth
  const words = wordsOf(lower)
  words.forEach((word, i) => {
    const n = ordinalWords.indexOf(word.text) > 0 || /^\d+(?:st|nd|rd|th)$/.test(word.text)
      ? numberOf(word.text)
      : undefined
    if (n === undefined) return
    const around = words.slice(Math.max(0, i - 4), i + 5).some((w) => versionWord.test(w.text))
    if (around) add(word.start, word.end, n)
  })
  return versions
}

/**
 * Bare numbers not already taken (as in "diff release checklist 1 3"): the versions of a request
 * that names its document and then two numbers.
 */
export const bareNumbers = (lower: string, spans: Spans): Array<VersionSpan> => {
  const taken = [...spans.quotes, ...spans.documents, ...spans.times, ...spans.versions]
  const numbers: Array<VersionSpan> = []
  for (const match of lower.matchAll(/\b(\d{1,6})\b/g)) {
    const start = match.index
    const end = start + match[0].length
    if (!inside(taken, start, end) && Number(match[1]) >= 1) numbers.push({ start, end, value: Number(match[1]) })
  }
  return numbers
}

/** Everything `nerv ask` recognises in a request, given the documents it may name and the time now. */
export const findSpans = (text: string, documents: ReadonlyArray<DocumentSummary>, now: number): Spans => {
  const lower = text.toLowerCase()
  const quotes = findQuotes(text)
  const outside = quotes.filter((q) =>
    !documents.some((d) => near(q.value.trim().toLowerCase(), d.title.toLowerCase()))
  )
  const mentions = findDocuments(text, documents, outside)
  const times = findTimes(lower, now).filter((t) =>
    !inside(outside, t.start, t.end) && !inside(mentions, t.start, t.end)
  )
  const versions = findVersions(lower, [...outside, ...mentions, ...times])
  const free = (pattern: RegExp) => {
    for (const match of lower.matchAll(pattern)) {
      if (!inside(outside, match.index, match.index + match[0].length)) return true
    }
    return false
  }
  return {
    quotes,
    documents: mentions,
    times,
    versions: versions.sort((a, b) => a.start - b.start),
    since: free(/\bsince\s+(?:the\s+)?(?:version|ver|rev|revision|v\d|first|second|third|original|\d)/g),
    lastChange: free(/\b(?:last|latest|most recent)\s+(?:edit|change|update|modification)s?\b/g)
  }
}

/**
 * The request as the classifier sees it: lower case, each quote, document, time and version
 * replaced by a placeholder word.
 */
export const placeholders = (text: string, spans: Spans): string => {
  const replaced: Array<{ start: number; end: number; word: string }> = [
    ...spans.documents.map((s) => ({ ...s, word: "docref" })),
    ...spans.times.map((s) => ({ ...s, word: "timeref" })),
    ...spans.versions.map((s) => ({ ...s, word: "vernum" }))
  ]
  for (const quote of spans.quotes) {
    if (!inside(replaced, quote.start, quote.end)) replaced.push({ ...quote, word: "quoted" })
  }
  replaced.sort((a, b) => a.start - b.start)
  let out = ""
  let at = 0
  for (const span of replaced) {
    if (span.start < at) continue
    out += `${text.slice(at, span.start)} ${span.word} `
    at = span.end
  }
  return (out + text.slice(at)).toLowerCase()
}
