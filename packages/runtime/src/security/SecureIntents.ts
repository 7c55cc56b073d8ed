/**
 * Intent analysis behind the one door: the intent service is a host of the guard like any other. It
 * declares its own permission (`intent:analyze`, which a policy layer must be told of:
 * `Rbac.layerPolicyConfig({ permissions: SecureIntents.permissions })`) and guards its programs
 * with `Access.guarded`, audited like the document programs.
 *
 * - `analyze` needs `intent:analyze`. Its audit records hold the request (the target) and, on
 *   success, the interpretation as JSON (the outcome's detail). The titles it resolves come from
 *   `Documents.list`, so a principal who may not read documents gets no titles (and that read is
 *   audited too); ids still resolve to nothing it could not name.
 * - `run` carries out an understood command through the same document programs as the typed
 *   commands (`Documents.*`, `Admin.forget`).
 * - `guard` puts a host's own language operation behind the same permission and audit.
 *
 * Run both under one correlation id (`Documents.withCorrelation`) and the trail links the request,
 * its interpretation and what it did.
 *
 * @since 0.1.0
 */
import { Access, Documents } from "@nerv/core"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { IntentAnalyzer } from "../IntentAnalyzer.js"
import { type Command, Interpretation } from "../IntentCommand.js"
import * as Admin from "./Admin.js"
import type { DataKeys } from "./DataKeys.js"

/**
 * The permission to have requests analysed.
 *
 * @since 0.1.0
 */
export const permission = "intent:analyze"

/**
 * The permissions the intent service declares, for the policy layer.
 *
 * @since 0.1.0
 */
export const permissions: ReadonlyArray<string> = [permission]

/**
 * What the guarded intent programs need.
 *
 * @since 0.1.0
 */
export type Services = Documents.Services | DataKeys | IntentAnalyzer

type ErrorOf<F extends (...args: ReadonlyArray<any>) => Effect.Effect<any, any, any>> = Effect.Effect.Error<
  ReturnType<F>
>

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
export const analyze = (text: string): Effect.Effect<
  Interpretation,
  ErrorOf<IntentAnalyzer["Type"]["analyze"]> | ErrorOf<typeof Documents.list>,
  Services
> =>
  Effect.gen(function*() {
    const analyzer = yield* IntentAnalyzer
    const me = yield* Access.principalId
    const documents = yield* Documents.list().pipe(
      Effect.catchTag("PermissionDenied", () => Effect.succeed([]))
    )
    return yield* analyzer.analyze(text, {
      documents: documents.map((d) => ({ id: d.id, title: d.title, author: d.author, version: d.version })),
      now: yield* DateTime.now,
      me
    })
  }).pipe(Access.guarded({ action: "Intent.analyze", permission, target: text, describe }))

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
): Effect.Effect<A, E | Access.GuardError, R | Access.Guard | Access.Principal> =>
  Access.guarded(program, { action, permission, target: options?.target, describe: options?.describe })

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

/**
 * Runs an understood command through the guarded operations, as the principal in context.
 *
 * @since 0.1.0
 */
export const run = (command: Command): Effect.Effect<
  Outcome,
  | AuthorIsNotPrincipal
  | ErrorOf<typeof Documents.create>
  | ErrorOf<typeof Documents.update>
  | ErrorOf<typeof Documents.remove>
  | ErrorOf<typeof Documents.get>
  | ErrorOf<typeof Documents.history>
  | ErrorOf<typeof Documents.at>
  | ErrorOf<typeof Documents.asOf>
  | ErrorOf<typeof Documents.diff>
  | ErrorOf<typeof Admin.forget>,
  Documents.Services | DataKeys
> => {
  switch (command._tag) {
    case "create":
      return Effect.gen(function*() {
        const principal = yield* Access.principalId
        if (command.author !== undefined && command.author !== principal) {
          return yield* new AuthorIsNotPrincipal({ author: command.author, principal })
        }
        const id = yield* Documents.create({ title: command.title, content: command.content })
        return { _tag: "Created", id } as const
      })
    case "update":
      return Documents.update(command.document.id, {
        ...(command.title === undefined ? {} : { title: command.title }),
        ...(command.content === undefined ? {} : { content: command.content })
      }).pipe(Effect.map((document) => ({ _tag: "Changed", document }) as const))
    case "delete":
      return Documents.remove(command.document.id, { reason: command.reason }).pipe(
        Effect.map((document) => ({ _tag: "Changed", document }) as const)
      )
    case "show":
      return Documents.get(command.document.id).pipe(
        Effect.map((document) => ({ _tag: "Document", document }) as const)
      )
    case "list":
      return Documents.list().pipe(
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
      return Documents.history(command.document.id).pipe(
        Effect.map((versions) => ({ _tag: "History", versions }) as const)
      )
    case "at":
      return Documents.at(command.document.id, command.version).pipe(
        Effect.map((document) => ({ _tag: "Document", document }) as const)
      )
    case "asOf":
      return Documents.asOf(command.document.id, command.instant).pipe(
        Effect.map((document) => ({ _tag: "Document", document }) as const)
      )
    case "diff":
      return Documents.diff(command.document.id, command.from, command.to).pipe(
        Effect.map((diff) => ({ _tag: "Diff", diff }) as const)
      )
    case "forget":
      return Admin.forget(command.document.id).pipe(
        Effect.as({ _tag: "Forgotten", id: command.document.id } as const)
      )
  }
}
