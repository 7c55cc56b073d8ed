/**
 * Slot filling: once the intent is known, the values it needs are read from the request around
 * cue words ("called", "because", "to", "with content", …), on the request with its document
 * mention masked so that a title never leaks into another slot.
 */
import { bareNumbers, type DocumentMention, type DocumentSummary, type Spans } from "./intentSpans.js"

/** The slots of one request, before they are checked and typed. */
export interface Slots {
  document?: DocumentMention
  title?: string
  content?: string
  author?: string
  reason?: string
  version?: number
  instant?: number
  from?: number
  to?: number
}

const mask = "§"

interface Cue {
  readonly pattern: RegExp
}

/** The request with the chosen document mention replaced by `§`s, offsets kept. */
const masked = (text: string, mention: DocumentMention | undefined) =>
  mention === undefined
    ? text
    : text.slice(0, mention.start) + mask.repeat(mention.end - mention.start) + text.slice(mention.end)

const tidy = (value: string): string | undefined => {
  let v = value.trim()
  for (let previous = ""; previous !== v;) {
    previous = v
    v = v.replace(/[\s,;.!?]+$/u, "")
      .replace(/\s+(?:please|pls|thanks|thank you)$/iu, "")
      .replace(/\s+(?:and|with|then)$/iu, "")
      .replace(/^(?:to|as|is|:)\s+/iu, "")
      .replace(/^[:\-—]\s*/u, "")
      .trim()
  }
  if (v.startsWith("(") && v.endsWith(")")) v = v.slice(1, -1).trim()
  else if (v.endsWith(")") && !v.includes("(")) v = v.slice(0, -1).trim()
  return v === "" || v.includes(mask) ? undefined : v
}

/**
 * The value that starts at `start`: a quote that opens there, else the text up to the first stop
 * after it.
 */
const valueAt = (text: string, spans: Spans, start: number, stops: ReadonlyArray<number>): string | undefined => {
  const rest = text.slice(start)
  const lead = rest.length - rest.trimStart().length
  const quote = spans.quotes.find((q) => q.start === start + lead)
  if (quote !== undefined) return tidy(quote.value)
  const end = Math.min(text.length, ...stops.filter((s) => s > start))
  return tidy(text.slice(start, end))
}

/** Where the first of `cues` matches: which cue, the start of the match and the start of its value. */
const findCue = (
  text: string,
  cues: ReadonlyArray<Cue>
): { cue: number; start: number; value: number } | undefined => {
  for (const [index, cue] of cues.entries()) {
    cue.pattern.lastIndex = 0
    const match = cue.pattern.exec(text)
    if (match !== null) return { cue: index, start: match.index, value: match.index + match[0].length }
  }
  return undefined
}

/** Every position where one of `cues` starts (to end the values of other slots). */
const cueStarts = (text: string, cues: ReadonlyArray<Cue>): Array<number> =>
  cues.flatMap((cue) => {
    // matchAll starts where the pattern's last exec stopped: start it from the beginning.
    cue.pattern.lastIndex = 0
    return [...text.matchAll(cue.pattern)].map((m) => m.index)
  })

// Compiled once, global and case-insensitive: a request's analysis builds no regular expression.
const cues = (...patterns: ReadonlyArray<RegExp>): ReadonlyArray<Cue> =>
  patterns.map((pattern) => ({ pattern: new RegExp(pattern.source, "giu") }))

const createTitle = cues(
  /\b(?:called|titled|entitled|named|with\s+(?:the\s+)?title|title[d]?\s*:?)\s+/,
  /\b(?:document|doc|note|file)\s*:\s*/,
  /\b(?:create|new|add|make|start)\s+(?=["“'])/,
  /\b(?:create|crate|creat|cretae|new|add|make|start|write|draft|open|set\s+up)\b[^"“:]*?\b(?:document|doc|note|file)\b\s*/
)
const createContent = cues(
  /\b(?:with\s+(?:the\s+)?(?:content|text|body)|containing|saying|that\s+says|(?:and\s+)?(?:content|text|body)\s*:?)\s+/,
  /\bwith\s+(?=["“'])/
)
const createAuthor = /\b(?:by|authored\s+by|written\s+by|author\s*:?)\s+([A-Za-z][\w.-]*)\s*[.!?]?\s*$/iu

const updateTitle = cues(
  /\b(?:rename|renmae|reanme|rname|retitle)\s+(?:the\s+)?(?:doc(?:ument)?\s+)?(?:called\s+)?§+(?:['’]s)?\s*(?:to|as|:)\s*/,
  /\b(?:title|name)\s+(?:of|in)\s+(?:the\s+)?(?:doc(?:ument)?\s+)?§+\s*(?:to|as|:)\s*/,
  /§+(?:['’]s)?\s+(?:title|name)\s+(?:to|as|:)\s*/,
  /\b(?:new\s+)?title\s*(?:to|as|:|is|should\s+be)?\s+/
)
const updateContent = cues(
  /\b(?:content|text|body)\s+(?:of|in)\s+(?:the\s+)?(?:doc(?:ument)?\s+)?§+\s*(?:to|with|:)\s*/,
  /\b(?:new\s+)?(?:content|text|body)\s*(?:to|with|:|is|should\s+be)\s*/,
  /\bwith\s+(?:the\s+)?(?:content|text)\s*:?\s+/,
  /\b(?:so\s+(?:that\s+)?(?:it|they)\s+(?:says?|reads?)|to\s+say|(?:should\s+)?(?:now\s+)?(?:says?|reads?))\s+/,
  /\bput\s+(?=["“'])/,
  /§+\s*:\s*/
)
const contentStops = cues(/\s+and\s+(?:rename|retitle|set\s+(?:its\s+|the\s+)?title)\b/)
const updateStops = cues(/\s+and\s+(?:set|change|make|update|replace)\b/, /\s+as\s+the\s+(?:content|text)\b/)

const deleteReason = cues(
  /\breason(?:\s+being|\s+is)?\s*[:-]?\s*/,
  /\bbecause(?:\s+of)?\s+/,
  /\bdue\s+to\s+/,
  /\bsince\s+(?!(?:the\s+)?(?:version|v\d))/,
  /§+(?:\s+doc(?:ument)?)?\s*(?:now|please)?\s*(?:,|\?|\s-+|\s—|\(|\sas\b)\s*/
)

const meWords =
  /\b(?:my|mine|i\s+(?:have\s+)?(?:wrote|written|created|made|authored)|have\s+i\s+(?:written|created|made)|i've\s+(?:written|created))\b/iu

const listAuthor = (text: string, documents: ReadonlyArray<DocumentSummary>, me: string | undefined) => {
  const authors = new Map(documents.map((d) => [d.author.toLowerCase(), d.author]))
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}._-]+/gu) ?? []) {
    const known = authors.get(word.replace(/['’]s$/u, ""))
    if (known !== undefined) return known
  }
  const named = /\b(?:by|from)\s+([a-z][\w.-]*)/iu.exec(text) ??
    /\b([a-z][\w.-]*)['’]s\s+(?:documents|docs|files|stuff)\b/iu
      .exec(text)
  if (named !== null && !/^(?:me|the|a|an|all|everyone|anyone|date|size|name)$/iu.test(named[1]!)) return named[1]!
  return me !== undefined && meWords.test(text) ? me : undefined
}

/** Picks the document mention the request is about: the first whole title or id, else the first. */
const chooseMention = (spans: Spans) => spans.documents.find((m) => m.exact) ?? spans.documents[0]

const latestOf = (mention: DocumentMention | undefined) =>
  mention !== undefined && mention.candidates.length === 1 ? mention.candidates[0]!.version : undefined

const versionValue = (value: number | "latest", mention: DocumentMention | undefined) =>
  value === "latest" ? latestOf(mention) : value

/** Fills the slots of `intent` from the request. */
export const fill = (
  intent: string,
  text: string,
  spans: Spans,
  context: { readonly documents: ReadonlyArray<DocumentSummary>; readonly me?: string | undefined }
): Slots => {
  const slots: Slots = {}
  if (intent === "create") {
    const author = createAuthor.exec(text)
    const authorStart = author === null ? text.length : author.index
    if (author !== null) slots.author = author[1]!
    const content = findCue(text, createContent)
    const title = findCue(text, createTitle)
    const stops = [authorStart, ...cueStarts(text, createContent)]
    if (title !== undefined) {
      const value = valueAt(text, spans, title.value, stops)
      if (value !== undefined) slots.title = value
    }
    if (content !== undefined && (title === undefined || content.start >= title.value)) {
      const value = valueAt(text, spans, content.value, [authorStart])
      if (value !== undefined) slots.content = value
    }
    return slots
  }
  if (intent === "list") {
    const author = listAuthor(text, context.documents, context.me)
    if (author !== undefined) slots.author = author
    return slots
  }
  const mention = chooseMention(spans)
  if (mention === undefined) return slots
  slots.document = mention
  const view = masked(text, mention)
  switch (intent) {
    case "update": {
      const title = findCue(view, updateTitle)
      const content = findCue(view, updateContent)
      const stops = [...cueStarts(view, updateStops), ...cueStarts(view, updateContent)]
      if (title !== undefined) {
        const value = valueAt(view, spans, title.value, stops)
        if (value !== undefined) slots.title = value
      }
      // "<document>: …" is the content only when nothing says it is the title.
      const bareColon = content !== undefined && content.cue === updateContent.length - 1
      if (content !== undefined && (title === undefined || (content.start !== title.start && !bareColon))) {
        const ends = cueStarts(view, contentStops)
        const value = valueAt(view, spans, content.value, ends)
        if (value !== undefined) slots.content = value
      }
      return slots
    }
    case "delete": {
      const reason = findCue(view, deleteReason)
      if (reason !== undefined) {
        const value = valueAt(view, spans, reason.value, [])
        if (value !== undefined) slots.reason = value
      }
      return slots
    }
    case "at": {
      const version = spans.versions[0] ?? bareNumbers(text.toLowerCase(), spans)[0]
      const value = version === undefined ? undefined : versionValue(version.value, mention)
      if (value !== undefined) slots.version = value
      return slots
    }
    case "asOf": {
      if (spans.times[0] !== undefined) slots.instant = spans.times[0].instant
      return slots
    }
    case "diff": {
      const latest = latestOf(mention)
      if (spans.lastChange && latest !== undefined && latest > 1) {
        slots.from = latest - 1
        slots.to = latest
        return slots
      }
      const versions = spans.versions.length >= 2 || spans.since
        ? spans.versions
        : [...spans.versions, ...bareNumbers(text.toLowerCase(), spans)].sort((a, b) => a.start - b.start)
      const values = versions.map((v) => versionValue(v.value, mention))
      if (spans.since && values[0] !== undefined && latest !== undefined) {
        slots.from = values[0]
        slots.to = latest
      } else {
        if (values[0] !== undefined) slots.from = values[0]
        if (values[1] !== undefined) slots.to = values[1]
      }
      return slots
    }
    default:
      return slots
  }
}
