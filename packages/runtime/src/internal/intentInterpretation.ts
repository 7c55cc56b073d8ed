/**
 * From an analysis to the typed answer: the document resolved (or the candidates, if several fit),
 * the slots the intent requires checked, and the command decoded with its Schema.
 */
import type { Document } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Command, type DocumentRef, Intent, type Interpretation } from "../IntentCommand.js"
import { type Analysis, minimumConfidence, outOfScope } from "./intentAnalysis.js"
import type { Slots } from "./intentSlots.js"

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
export const interpret = (text: string, analysis: Analysis): Interpretation => {
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
