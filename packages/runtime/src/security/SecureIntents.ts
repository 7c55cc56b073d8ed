/**
 * Intent analysis behind RBAC and the audit trail: the one place where `nerv ask` meets the guard.
 *
 * - `analyze` needs `intent:analyze`. Its audit records hold the request (the target) and, on
 *   success, the interpretation as JSON (the outcome's detail). The titles it resolves come from
 *   `SecureDocuments.list`, so a principal who may not read documents gets no titles (and that read
 *   is audited too); ids still resolve to nothing it could not name.
 * - `run` carries out an understood command through the same guarded operations as the typed
 *   commands (`SecureDocuments.create`, `update`, `remove`, `get`, `at`, `history`, `list`,
 *   `forget`), with `asOf` and `diff` guarded here by `documents:read` until `SecureDocuments` has
 *   them.
 *
 * - `guard` puts a host's own language operation behind the same permission and audit.
 *
 * Run both under one correlation id (`Documents.withCorrelation`) and the trail links the request,
 * its interpretation and what it did.
 *
 * @since 0.1.0
 */
import { type Document, Documents, type Errors } from "@nerv/core"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { IntentAnalyzer } from "../IntentAnalyzer.js"
import { type Command, Interpretation } from "../IntentCommand.js"
import * as Rbac from "./Rbac.js"
import * as SecureDocuments from "./SecureDocuments.js"

/**
 * The permission to have requests analysed.
 *
 * @since 0.1.0
 */
export const permission: Rbac.Permission = "intent:analyze"

/**
 * What the guarded intent programs need.
 *
 * @since 0.1.0
 */
export type Services = SecureDocuments.Services | IntentAnalyzer

type Guarded<A, E, R = SecureDocuments.Services> = Effect.Effect<A, E | SecureDocuments.GuardError, R>

const encodeInterpretation = Schema.encodeSync(Interpretation)

/**
 * The interpretation as the audit trail records it: JSON.
 *
 * @since 0.1.0
 */
export const describe = (interpretation: Interpretation): string => JSON.stringify(encodeInterpretation(interpretation))

/**
 * Analyses a request for the principal in context. Needs `intent:analyze`.
 *
 * @since 0.1.0
 */
export const analyze = (
  text: string
): Guarded<
  Interpretation,
  Errors.InvalidInput | Effect.Effect.Error<ReturnType<typeof SecureDocuments.list>>,
  Services
> =>
  SecureDocuments.guarded(
    { action: "Intent.analyze", permission, target: text, describe },
    Effect.gen(function*() {
      const analyzer = yield* IntentAnalyzer
      const principal = yield* Rbac.Principal
      const documents = yield* SecureDocuments.list().pipe(
        Effect.catchTag("PermissionDenied", () => Effect.succeed([]))
      )
      return yield* analyzer.analyze(text, {
        documents: documents.map((d) => ({ id: d.id, title: d.title, author: d.author, version: d.version })),
        now: yield* DateTime.now,
        me: principal.id
      })
    })
  )

/**
 * Guards a host's own language operation (a summary, a translation, another analyzer) like
 * `analyze`: it runs only for a principal with `intent:analyze`, and every attempt is audited under
 * `action`, with `target` and, on success, what `describe` says of the result.
 *
 * @since 0.1.0
 */
export const guard = <A, E, R>(
  action: string,
  program: Effect.Effect<A, E, R>,
  options?: { readonly target?: string | undefined; readonly describe?: ((value: A) => string) | undefined }
): Guarded<A, E, R | SecureDocuments.Services> =>
  SecureDocuments.guarded(
    { action, permission, target: options?.target, describe: options?.describe },
    program
  )

/**
 * The request names an author other than the principal: documents are created by whoever asks.
 *
 * @since 0.1.0
 */
export class AuthorIsNotPrincipal extends Data.TaggedError("AuthorIsNotPrincipal")<{
  readonly author: string
  readonly principal: string
}> {
  override get message(): string {
    return `the request names ${this.author} as the author, but a document's author is whoever creates it ` +
      `(${this.principal}): ask as ${this.author}, or leave the author out`
  }
}

/**
 * What running an understood command gave.
 *
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Created"; readonly id: string }
  | { readonly _tag: "Changed"; readonly document: Documents.DocumentVersion["document"] }
  | { readonly _tag: "Document"; readonly document: Documents.DocumentVersion["document"] }
  | { readonly _tag: "Documents"; readonly documents: ReadonlyArray<Documents.DocumentVersion["document"]> }
  | { readonly _tag: "History"; readonly versions: ReadonlyArray<Documents.DocumentVersion> }
  | { readonly _tag: "Diff"; readonly diff: Documents.Diff }
  | { readonly _tag: "Forgotten"; readonly id: string }

const asOf = (
  id: string,
  instant: DateTime.Utc
): Guarded<Document.Document, Effect.Effect.Error<ReturnType<typeof Documents.asOf>>> =>
  SecureDocuments.guarded(
    { action: "Documents.asOf", permission: "documents:read", target: id },
    Documents.asOf(id, instant)
  )

const diff = (
  id: string,
  from: number,
  to: number
): Guarded<Documents.Diff, Effect.Effect.Error<ReturnType<typeof Documents.diff>>> =>
  SecureDocuments.guarded(
    { action: "Documents.diff", permission: "documents:read", target: id },
    Documents.diff(id, from, to)
  )

/**
 * Runs an understood command through the guarded operations, as the principal in context.
 *
 * @since 0.1.0
 */
export const run = (command: Command): Effect.Effect<
  Outcome,
  | AuthorIsNotPrincipal
  | Errors.PermissionDenied
  | Errors.AuditUnavailable
  | Effect.Effect.Error<ReturnType<typeof SecureDocuments.update>>
  | Effect.Effect.Error<ReturnType<typeof SecureDocuments.create>>
  | Effect.Effect.Error<ReturnType<typeof asOf>>
  | Effect.Effect.Error<ReturnType<typeof diff>>
  | Effect.Effect.Error<ReturnType<typeof SecureDocuments.forget>>
  | Effect.Effect.Error<ReturnType<typeof SecureDocuments.history>>
  | Effect.Effect.Error<ReturnType<typeof SecureDocuments.at>>,
  SecureDocuments.Services
> => {
  switch (command._tag) {
    case "create":
      return Effect.gen(function*() {
        const principal = yield* Rbac.Principal
        if (command.author !== undefined && command.author !== principal.id) {
          return yield* new AuthorIsNotPrincipal({ author: command.author, principal: principal.id })
        }
        const id = yield* SecureDocuments.create({ title: command.title, content: command.content })
        return { _tag: "Created", id } as const
      })
    case "update":
      return SecureDocuments.update(command.document.id, {
        ...(command.title === undefined ? {} : { title: command.title }),
        ...(command.content === undefined ? {} : { content: command.content })
      }).pipe(Effect.map((document) => ({ _tag: "Changed", document }) as const))
    case "delete":
      return SecureDocuments.remove(command.document.id, { reason: command.reason }).pipe(
        Effect.map((document) => ({ _tag: "Changed", document }) as const)
      )
    case "show":
      return SecureDocuments.get(command.document.id).pipe(
        Effect.map((document) => ({ _tag: "Document", document }) as const)
      )
    case "list":
      return SecureDocuments.list().pipe(
        Effect.map((documents) =>
          ({
            _tag: "Documents",
            documents: command.author === undefined
              ? documents
              : documents.filter((d) => d.author.toLowerCase() === command.author!.toLowerCase())
          }) as const
        )
      )
    case "history":
      return SecureDocuments.history(command.document.id).pipe(
        Effect.map((versions) => ({ _tag: "History", versions }) as const)
      )
    case "at":
      return SecureDocuments.at(command.document.id, command.version).pipe(
        Effect.map((document) => ({ _tag: "Document", document }) as const)
      )
    case "asOf":
      return asOf(command.document.id, command.instant).pipe(
        Effect.map((document) => ({ _tag: "Document", document }) as const)
      )
    case "diff":
      return diff(command.document.id, command.from, command.to).pipe(
        Effect.map((diff) => ({ _tag: "Diff", diff }) as const)
      )
    case "forget":
      return SecureDocuments.forget(command.document.id).pipe(
        Effect.as({ _tag: "Forgotten", id: command.document.id } as const)
      )
  }
}
