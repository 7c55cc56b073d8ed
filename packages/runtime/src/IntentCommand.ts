/**
 * What intent analysis answers: the commands a request can become, one per intent with its slots
 * typed as the document programs type them, and the interpretation of a request (understood,
 * ambiguous, incomplete, not understood). All Schemas, so an interpretation is JSON for scripts and
 * for the audit trail.
 *
 * @since 0.1.0
 */
import { Document } from "@nerv/core"
import * as Schema from "effect/Schema"

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
