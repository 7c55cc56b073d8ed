/**
 * A document, the thing NERV keeps every version of.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A document's identity: a UUID, branded so it is never confused with another string.
 *
 * @since 0.1.0
 */
export const DocumentId = Schema.UUID.pipe(Schema.brand("DocumentId"))

/**
 * @since 0.1.0
 */
export type DocumentId = typeof DocumentId.Type

/**
 * A title: trimmed, 1 to 200 characters.
 *
 * @since 0.1.0
 */
export const Title = Schema.Trimmed.pipe(
  Schema.minLength(1, { message: () => "a title cannot be empty" }),
  Schema.maxLength(200, { message: () => "a title is at most 200 characters" })
)

/**
 * A document's content: any text up to one million characters.
 *
 * @since 0.1.0
 */
export const Content = Schema.String.pipe(
  Schema.maxLength(1_000_000, { message: () => "content is at most 1,000,000 characters" })
)

/**
 * Who did something: a trimmed name or id, 1 to 100 characters.
 *
 * @since 0.1.0
 */
export const Actor = Schema.Trimmed.pipe(
  Schema.minLength(1, { message: () => "an actor (author, editor, who deleted) cannot be empty" }),
  Schema.maxLength(100, { message: () => "an actor is at most 100 characters" })
)

/**
 * Why a document was deleted: trimmed, 1 to 500 characters.
 *
 * @since 0.1.0
 */
export const Reason = Schema.Trimmed.pipe(
  Schema.minLength(1, { message: () => "a deletion reason cannot be empty" }),
  Schema.maxLength(500, { message: () => "a deletion reason is at most 500 characters" })
)

/**
 * A document version number: 1 for the first, one more for each event after it.
 *
 * @since 0.1.0
 */
export const Version = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))

/**
 * The state of one document at one version. Once deleted, `deletedAt` and `deletionReason` are set
 * and the document takes no more changes.
 *
 * @since 0.1.0
 */
export class Document extends Schema.Class<Document>("@nerv/core/Document")({
  id: DocumentId,
  title: Title,
  content: Content,
  author: Actor,
  version: Version,
  createdAt: Schema.DateTimeUtc,
  modifiedAt: Schema.DateTimeUtc,
  lastEditor: Actor,
  deletedAt: Schema.optionalWith(Schema.DateTimeUtc, { exact: true }),
  deletionReason: Schema.optionalWith(Reason, { exact: true })
}) {
  /**
   * @since 0.1.0
   */
  get isDeleted(): boolean {
    return this.deletedAt !== undefined
  }
}

/**
 * The fields of a `Document`.
 *
 * @since 0.1.0
 */
export type DocumentFields = ConstructorParameters<typeof Document>[0]

/**
 * Builds a `Document` from fields already known to be valid (a state evolved from checked events),
 * skipping what the Schema constructor does on every call even with validation off (copying the
 * fields, merging defaults): the same instance — same prototype, same own fields — at a tenth of the
 * cost, which matters because every command and every event of a rebuild builds one. Anything from
 * outside goes through `new Document(fields)` or a decoder, which check.
 *
 * @since 0.1.0
 */
export const unsafeMake = (fields: DocumentFields): Document => new DocumentConstructor(fields)

/**
 * Builds instances of `Document` the way its `Data.Class` base does (`Object.assign(this, fields)`),
 * as a constructor, so that V8 gives them an in-object layout sized to their fields (an
 * `Object.create(prototype)` object keeps most fields out of line, a second allocation each).
 */
function DocumentInstance(this: DocumentFields, fields: DocumentFields) {
  Object.assign(this, fields)
}
DocumentInstance.prototype = Document.prototype
const DocumentConstructor = DocumentInstance as unknown as new(fields: DocumentFields) => Document
