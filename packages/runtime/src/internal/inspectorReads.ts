/**
 * What the inspector reads, and the one place it meets the security API: every read runs as the
 * inspector's principal through the guarded operations (checked against the policy, audited), and a
 * forgotten document is read as its shape only. The HTTP side never calls a document program itself.
 */
import { Access, type Document, Documents, DocumentStore, Errors, Journal } from "@nerv/core"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CausalTrace from "../CausalTrace.js"
import * as Dispatcher from "../Dispatcher.js"
import { DataKeys } from "../security/DataKeys.js"
import { describeFailure } from "./failure.js"

/** The permission every page read needs: the page shows documents, their events and their history. */
const permission = "documents:read" as const

/** Who the page reads as: a principal the policy names. */
export type Principal = string

/** The services the reads need (the principal is the inspector's own). */
export type Services = Exclude<Documents.Services, Access.Principal> | DataKeys

const as = (principal: Principal) => Access.as(principal)

/** Runs a read of the page's own (not a document program) through the door, as the principal. */
const guardedRead = <A, E, R>(
  principal: Principal,
  action: string,
  target: string | undefined,
  program: Effect.Effect<A, E, R>
) => Access.guarded(program, { action, permission, target }).pipe(as(principal))

/** A document as the page lists and shows it. */
export interface DocumentJson {
  readonly id: string
  readonly title: string
  readonly content: string
  readonly author: string
  readonly version: number
  readonly createdAt: string
  readonly modifiedAt: string
  readonly lastEditor: string
  readonly deleted: boolean
  readonly deletionReason: string | null
}

export const documentJson = (document: Document.Document): DocumentJson => ({
  id: document.id,
  title: document.title,
  content: document.content,
  author: document.author,
  version: document.version,
  createdAt: DateTime.formatIso(document.createdAt),
  modifiedAt: DateTime.formatIso(document.modifiedAt),
  lastEditor: document.lastEditor,
  deleted: document.deletedAt !== undefined,
  deletionReason: document.deletionReason ?? null
})

/** One version in a document's timeline: what happened, when, by whom (no content). */
export interface VersionJson {
  readonly version: number
  readonly event: string
  readonly occurredAt: string
  readonly actor: string
}

/** A document with its timeline; a forgotten one has no content, only its shape. */
export type DocumentView =
  | { readonly forgotten: false; readonly document: DocumentJson; readonly versions: ReadonlyArray<VersionJson> }
  | { readonly forgotten: true; readonly id: string; readonly versions: ReadonlyArray<VersionJson> }

/** How many documents one search reads at most: a search must not read a database of millions whole. */
export const searchScanLimit = 20_000

/** What a search found; `complete` is false when it stopped at `searchScanLimit` documents. */
export interface SearchResult {
  readonly documents: ReadonlyArray<DocumentJson>
  readonly complete: boolean
}

/**
 * The documents whose title or id contains `search` (any case), live and deleted, in creation
 * order, at most `limit`, among the first `searchScanLimit`.
 */
export const search = (principal: Principal, query: { readonly search: string; readonly limit: number }) =>
  guardedRead(
    principal,
    "Inspector.search",
    query.search === "" ? undefined : query.search,
    Effect.gen(function*() {
      const needle = query.search.toLowerCase()
      const found: Array<DocumentJson> = []
      let after: string | undefined
      let scanned = 0
      // From the store, under this one guarded call: each page through `Documents.listPage` would be
      // a guarded (and audited) call of its own.
      const store = yield* DocumentStore.DocumentStore
      do {
        const page = yield* store.list({ include: "all", limit: 500, after })
        for (const document of page.documents) {
          if (needle === "" || document.title.toLowerCase().includes(needle) || document.id.includes(needle)) {
            found.push(documentJson(document))
          }
          if (found.length >= query.limit) return { documents: found, complete: true } satisfies SearchResult
        }
        scanned += page.documents.length
        after = page.next
      } while (after !== undefined && scanned < searchScanLimit)
      return { documents: found, complete: after === undefined } satisfies SearchResult
    })
  )

/** A document with its timeline, or, once forgotten, its shape alone. */
export const document = (principal: Principal, id: string) =>
  Documents.history(id).pipe(
    as(principal),
    Effect.map((versions): DocumentView => ({
      forgotten: false,
      document: documentJson(versions[versions.length - 1]!.document),
      versions: versions.map(({ event, version }) => ({
        version,
        event: event._tag,
        occurredAt: DateTime.formatIso(event.occurredAt),
        actor: event.actor
      }))
    })),
    Effect.catchTag("DocumentForgotten", () =>
      Documents.shape(id).pipe(
        as(principal),
        Effect.map((shape): DocumentView => ({
          forgotten: true,
          id,
          versions: shape.map((v) => ({
            version: v.version,
            event: v.event,
            occurredAt: DateTime.formatIso(v.occurredAt),
            actor: v.actor
          }))
        }))
      ))
  )

/** A document as it was at one version. */
export const at = (principal: Principal, id: string, version: number) =>
  Effect.map(Documents.at(id, version).pipe(as(principal)), documentJson)

/** What changed between two versions (fails `DocumentForgotten` once forgotten). */
export const diff = (principal: Principal, id: string, from: number, to: number) =>
  // The store refuses a forgotten document's content; the key store also knows what another process forgot.
  Effect.zipRight(
    Effect.flatMap(DataKeys, (keys) => keys.isForgotten(id)).pipe(
      Effect.flatMap((forgotten) =>
        forgotten ? Effect.fail(new Errors.DocumentForgotten({ documentId: id })) : Effect.void
      )
    ),
    Documents.diff(id, from, to)
  ).pipe(Access.guarded({ action: "Inspector.diff", permission, target: id }), as(principal))

/** One journal entry as the live feed and the trace show it: never the content of a forgotten document. */
export interface EntryJson {
  readonly position: number
  readonly type: string
  readonly documentId: string
  readonly version: number
  readonly actor: string
  readonly occurredAt: string
  readonly eventId: string
  readonly correlationId: string
  readonly causationId: string
  readonly summary: string
  readonly forgotten: boolean
}

export const entryJson = (entry: Journal.JournalEntry): EntryJson => ({
  position: entry.position,
  type: entry.event._tag,
  documentId: entry.event.documentId,
  version: entry.event.version,
  actor: entry.event.actor,
  occurredAt: DateTime.formatIso(entry.event.occurredAt),
  eventId: entry.event.eventId,
  correlationId: entry.event.correlationId,
  causationId: entry.event.causationId,
  summary: entry.forgotten === true ? "content forgotten" : CausalTrace.summarize(entry.event),
  forgotten: entry.forgotten === true
})

/** Checks, and audits, that the principal may follow the journal's events. */
export const follow = (principal: Principal, after: number) =>
  guardedRead(principal, "Inspector.follow", `after position ${after}`, Effect.flatMap(Journal.Journal, (j) => j.head))

/** A command of a causal tree, as JSON. */
export interface CommandJson {
  readonly causationId: string
  readonly documentId: string
  readonly actor: string
  readonly at: string
  readonly events: ReadonlyArray<
    Omit<EntryJson, "correlationId" | "causationId"> & {
      readonly reactions: ReadonlyArray<CommandJson>
    }
  >
}

/** The causal tree of a correlation (see `CausalTrace`); a forgotten document's events keep only their shape. */
export const trace = (principal: Principal, correlationId: string) =>
  guardedRead(
    principal,
    "Inspector.trace",
    correlationId,
    Effect.gen(function*() {
      const tree = yield* CausalTrace.trace(correlationId)
      const store = yield* DocumentStore.DocumentStore
      const forgotten = new Set<string>()
      for (const event of CausalTrace.events(tree)) {
        if (forgotten.has(event.documentId)) continue
        const readable = yield* store.current(event.documentId as Document.DocumentId).pipe(
          Effect.as(true),
          Effect.catchTag("DocumentForgotten", () => Effect.succeed(false))
        )
        if (!readable) forgotten.add(event.documentId)
      }
      const command = (c: CausalTrace.TraceCommand): CommandJson => ({
        causationId: c.causationId,
        documentId: c.documentId,
        actor: c.actor,
        at: DateTime.formatIso(c.at),
        events: c.events.map((event) => ({
          position: event.position,
          type: event.type,
          documentId: event.documentId,
          version: event.version,
          actor: event.actor,
          occurredAt: DateTime.formatIso(event.occurredAt),
          eventId: event.eventId,
          summary: forgotten.has(event.documentId) ? "content forgotten" : event.summary,
          forgotten: forgotten.has(event.documentId),
          reactions: event.reactions.map(command)
        }))
      })
      return { correlationId, entries: tree.entries, roots: tree.roots.map(command) }
    })
  )

const maxCause = 2_000

/** The dispatcher's figures and dead letters, or `null` when this process runs no dispatcher. */
export const dispatcher = (principal: Principal) =>
  guardedRead(
    principal,
    "Inspector.dispatcher",
    undefined,
    Effect.flatMap(Effect.serviceOption(Dispatcher.Dispatcher), (service) =>
      Option.match(service, {
        onNone: () => Effect.succeed(null),
        onSome: (dispatcher) =>
          Effect.gen(function*() {
            const snapshot = yield* dispatcher.snapshot
            const letters = yield* dispatcher.deadLetters
            return {
              snapshot,
              deadLetters: letters.map((letter) => {
                const failure = describeFailure(letter.cause)
                return {
                  id: letter.id,
                  handler: letter.handler,
                  attempts: letter.attempts,
                  failedAt: DateTime.formatIso(letter.failedAt),
                  priority: letter.priority,
                  event: {
                    type: letter.event._tag,
                    eventId: letter.event.eventId,
                    documentId: "documentId" in letter.event ? String(letter.event.documentId) : null
                  },
                  error: failure.error,
                  message: failure.message.slice(0, maxCause)
                }
              })
            }
          })
      }))
  )

/** The errors a read can meet, by tag, for the HTTP status. */
export type ReadError =
  | Errors.InvalidInput
  | Errors.DocumentNotFound
  | Errors.DocumentForgotten
  | Errors.VersionNotFound
  | Access.PermissionDenied
  | { readonly _tag: string; readonly message: string }
