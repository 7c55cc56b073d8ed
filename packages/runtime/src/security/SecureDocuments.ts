/**
 * The document programs behind RBAC and the audit trail. Each call:
 *
 * 1. checks the permission of the `Principal` in context against the `Policy` (with the
 *    author-may-act-on-own-documents rule, which reads the document's author);
 * 2. if refused, appends a `denied` record and fails with `PermissionDenied`, changing nothing else;
 * 3. if allowed, appends an `allowed` record **before** running the program — if that write fails
 *    the call fails with `AuditUnavailable` and the program never runs;
 * 4. runs the program and appends its outcome (`succeeded` or `failed`).
 *
 * Why a write-ahead record rather than one transaction with the journal: the journal is a port, and
 * not every journal shares a database (or a transaction) with the audit trail. Writing the attempt
 * first guarantees, for every journal, that no operation happens without a record of it. The cost
 * is that an outcome record can be missing when the process dies (or the trail fails) after the
 * operation: the trail then shows the attempt as `allowed` with no outcome, never the reverse.
 *
 * The actor NERV records is always the principal: callers cannot name another author or editor.
 *
 * @since 0.1.0
 */
import { Document, Documents, DocumentStore, Errors, IdGenerator, Input } from "@nerv/core"
import { Forgetting, Rebuild, Retention } from "@nerv/store"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Nerv from "../Nerv.js"
import { type AuditStoreError, AuditTrail, type Head } from "./AuditTrail.js"
import { DataKeys } from "./DataKeys.js"
import type { KeyStoreError } from "./KeyStore.js"
import * as Rbac from "./Rbac.js"

/**
 * What the secured programs need besides the document services.
 *
 * @since 0.1.0
 */
export type Services = Nerv.Services | Rbac.Principal | Rbac.Policy | AuditTrail | DataKeys

/**
 * How a guarded call can fail besides the program's own errors.
 *
 * @since 0.1.0
 */
export type GuardError = Errors.PermissionDenied | Errors.AuditUnavailable

type ErrorOf<F extends (...args: ReadonlyArray<any>) => Effect.Effect<any, any, any>> = Effect.Effect.Error<
  ReturnType<F>
>

const maxTarget = 200
const maxDetail = 1_000

const clip = (text: string, max: number) => text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`

// Audit records must be written whatever the input was, so a target that is not a string (bad
// input) is described rather than trusted.
const describeTarget = (target: unknown): string | null =>
  target === undefined ? null : clip(typeof target === "string" ? target : `<${typeof target}>`, maxTarget)

const describeExit = <A, E>(exit: Exit.Exit<A, E>): string | null => {
  if (Exit.isSuccess(exit)) return null
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  return Option.match(Cause.failureOption(exit.cause), {
    onNone: () => clip(`defect: ${Cause.pretty(exit.cause)}`, maxDetail),
    onSome: (error) => {
      const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
      const message = error instanceof Error ? error.message : String(error)
      return clip(`${tag}: ${message}`, maxDetail)
    }
  })
}

const isDocumentId = Schema.is(Document.DocumentId)

// A forgotten document's author is still the actor of its first version (a clear column).
const authorOf = (id: unknown) =>
  typeof id === "string" && isDocumentId(id)
    ? Effect.flatMap(DocumentStore.DocumentStore, (store) =>
      Effect.map(
        store.current(id),
        Option.match({ onNone: () => undefined, onSome: (document): string | undefined => document.author })
      ).pipe(
        Effect.catchTag("DocumentForgotten", () =>
          store.shape(id).pipe(
            Effect.map((versions) => versions[0]?.version === 1 ? versions[0].actor : undefined),
            Effect.orElseSucceed(() => undefined)
          )),
        // Unreadable, the owner is unknown: only a permission without `:own` lets the call through.
        Effect.catchTag("JournalError", () => Effect.succeed(undefined))
      ))
    : Effect.succeed(undefined)

/**
 * What `guarded` checks and records: the action's name, the permission it needs, what it acts on,
 * and how to find the author of that (for the `:own` permissions).
 *
 * @since 0.1.0
 */
export interface Guard {
  readonly action: string
  readonly permission: Rbac.Permission
  readonly target?: unknown
  /** The author of the document acted on, for the `:own` permissions. */
  readonly owner?: Effect.Effect<string | undefined, never, DocumentStore.DocumentStore | Rbac.Principal> | undefined
}

/**
 * Runs `program` under the permission check and the audit trail described in the module comment.
 *
 * @since 0.1.0
 */
export const guarded = <A, E, R>(
  guard: Guard & {
    /** What the outcome record says of a success (default: nothing); clipped to 1,000 characters. */
    readonly describe?: ((value: A) => string) | undefined
  },
  program: Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E | Errors.PermissionDenied | Errors.AuditUnavailable,
  R | Rbac.Principal | Rbac.Policy | AuditTrail | IdGenerator.IdGenerator | DocumentStore.DocumentStore
> =>
  Effect.gen(function*() {
    const principal = yield* Rbac.Principal
    const policy = yield* Rbac.Policy
    const trail = yield* AuditTrail
    const cause = yield* FiberRef.get(Documents.currentCause)
    const correlationId = Option.isSome(cause)
      ? cause.value.correlationId
      : yield* Effect.flatMap(IdGenerator.IdGenerator, (ids) => ids.next)
    const target = describeTarget(guard.target)
    const record = (outcome: "allowed" | "denied" | "succeeded" | "failed", detail: string | null) =>
      trail.append({
        principal: principal.id,
        roles: principal.roles,
        action: guard.action,
        target,
        outcome,
        detail,
        correlationId,
        causationId: Option.isSome(cause) ? cause.value.causationId : correlationId
      })
    const unavailable = (error: AuditStoreError) =>
      new Errors.AuditUnavailable({ action: guard.action, reason: error.reason, cause: error })

    const owner = guard.owner === undefined ? undefined : yield* guard.owner
    if (!Rbac.isAllowed(policy, principal, guard.permission, { owner })) {
      const denied = new Errors.PermissionDenied({
        principal: principal.id,
        roles: principal.roles,
        action: guard.action,
        permission: guard.permission,
        target: target ?? undefined
      })
      yield* Effect.mapError(record("denied", denied.message), unavailable)
      return yield* denied
    }
    yield* Effect.mapError(record("allowed", null), unavailable)
    const run = Option.isSome(cause) ? program : Documents.withCorrelation(program, correlationId)
    return yield* run.pipe(
      Effect.withSpan(`guarded ${guard.action}`, {
        attributes: { "nerv.principal": principal.id, "nerv.permission": guard.permission }
      }),
      Effect.onExit((exit) =>
        record(
          Exit.isSuccess(exit) ? "succeeded" : "failed",
          Exit.isSuccess(exit) && guard.describe !== undefined
            ? clip(guard.describe(exit.value), maxDetail)
            : describeExit(exit)
        ).pipe(
          Effect.catchAll((error) =>
            Effect.logError(
              `${guard.action} ran, but its outcome could not be added to the audit trail: ${error.message}`
            )
          )
        )
      )
    )
  })

const CreateInput = Schema.Struct({ title: Document.Title, content: Document.Content })
const UpdateOptions = Schema.Struct({ expectedVersion: Schema.optionalWith(Document.Version, { exact: true }) })
const RemoveOptions = Schema.Struct({
  reason: Document.Reason,
  expectedVersion: Schema.optionalWith(Document.Version, { exact: true })
})

const decodeCreate = Input.decoder("Documents.create", CreateInput)
const decodeUpdate = Input.decoder("Documents.update", UpdateOptions)
const decodeRemove = Input.decoder("Documents.remove", RemoveOptions)
const decodeShapeId = Input.decoder("Documents.shape", Document.DocumentId)
const decodeForgetId = Input.decoder("Documents.forget", Document.DocumentId)

/**
 * The store refuses a forgotten document's content by itself; this also catches a document that
 * another process sharing the key store forgot.
 */
const notForgotten = (id: unknown) =>
  typeof id === "string" && isDocumentId(id)
    ? Effect.flatMap(DataKeys, (keys) =>
      Effect.flatMap(keys.isForgotten(id), (forgotten) =>
        forgotten ? Effect.fail(new Errors.DocumentForgotten({ documentId: id })) : Effect.void))
    : Effect.void

const principalId = Effect.map(Rbac.Principal, (principal) => principal.id)

/**
 * Creates a document authored by the principal. Needs `documents:write` or `documents:write:own`.
 *
 * @since 0.1.0
 */
export const create = (
  input: { readonly title: string; readonly content: string }
): Effect.Effect<Document.DocumentId, ErrorOf<typeof Documents.create> | GuardError, Services> =>
  guarded(
    { action: "Documents.create", permission: "documents:write", owner: principalId },
    Effect.gen(function*() {
      const { content, title } = yield* decodeCreate(input)
      return yield* Documents.create({ title, content, author: yield* principalId })
    })
  )

/**
 * Updates a document as the principal. Needs `documents:write`, or `documents:write:own` on a
 * document the principal wrote.
 *
 * @since 0.1.0
 */
export const update = (
  id: string,
  changes: typeof Documents.UpdateInput.Encoded,
  options?: { readonly expectedVersion?: number }
): Effect.Effect<
  Document.Document,
  ErrorOf<typeof Documents.update> | Errors.DocumentForgotten | KeyStoreError | GuardError,
  Services
> =>
  guarded(
    { action: "Documents.update", permission: "documents:write", target: id, owner: authorOf(id) },
    Effect.gen(function*() {
      const { expectedVersion } = yield* decodeUpdate(options ?? {})
      yield* notForgotten(id)
      return yield* Documents.update(id, changes, {
        editor: yield* principalId,
        ...(expectedVersion === undefined ? {} : { expectedVersion })
      })
    })
  )

/**
 * Deletes a document as the principal. Needs `documents:delete`, or `documents:delete:own` on a
 * document the principal wrote.
 *
 * @since 0.1.0
 */
export const remove = (
  id: string,
  options: { readonly reason: string; readonly expectedVersion?: number }
): Effect.Effect<
  Document.Document,
  ErrorOf<typeof Documents.remove> | Errors.DocumentForgotten | KeyStoreError | GuardError,
  Services
> =>
  guarded(
    { action: "Documents.remove", permission: "documents:delete", target: id, owner: authorOf(id) },
    Effect.gen(function*() {
      const { expectedVersion, reason } = yield* decodeRemove(options)
      yield* notForgotten(id)
      return yield* Documents.remove(id, {
        actor: yield* principalId,
        reason,
        ...(expectedVersion === undefined ? {} : { expectedVersion })
      })
    })
  )

/**
 * A document's latest state. Needs `documents:read`; fails `DocumentForgotten` once forgotten.
 *
 * @since 0.1.0
 */
export const get = (id: string) =>
  guarded(
    { action: "Documents.get", permission: "documents:read", target: id },
    Effect.zipRight(notForgotten(id), Documents.get(id))
  )

/**
 * Every document not deleted and not forgotten. Needs `documents:read`.
 *
 * @since 0.1.0
 */
export const list = () =>
  guarded(
    { action: "Documents.list", permission: "documents:read" },
    Effect.gen(function*() {
      const documents = yield* Documents.list()
      const forgotten = yield* Effect.flatMap(DataKeys, (keys) => keys.forgottenAmong(documents.map((d) => d.id)))
      return documents.filter((document) => !forgotten.has(document.id))
    })
  )

/**
 * Every version of a document. Needs `documents:read`; fails `DocumentForgotten` once forgotten
 * (its shape stays readable with `shape`).
 *
 * @since 0.1.0
 */
export const history = (id: string) =>
  guarded(
    { action: "Documents.history", permission: "documents:read", target: id },
    Effect.zipRight(notForgotten(id), Documents.history(id))
  )

/**
 * A document at one version. Needs `documents:read`; fails `DocumentForgotten` once forgotten.
 *
 * @since 0.1.0
 */
export const at = (id: string, version: number) =>
  guarded(
    { action: "Documents.at", permission: "documents:read", target: id },
    Effect.zipRight(notForgotten(id), Documents.at(id, version))
  )

/**
 * One version's shape: what happened, when, by whom, without any content.
 *
 * @since 0.1.0
 */
export interface VersionShape {
  readonly version: number
  readonly event: string
  readonly occurredAt: string
  readonly actor: string
}

/**
 * A document's history without its content: what stays of a forgotten document. Needs
 * `documents:read`.
 *
 * @since 0.1.0
 */
export const shape = (id: string) =>
  guarded(
    { action: "Documents.shape", permission: "documents:read", target: id },
    Effect.gen(function*() {
      const documentId = yield* decodeShapeId(id)
      const versions = yield* Effect.flatMap(DocumentStore.DocumentStore, (store) => store.shape(documentId))
      return versions.map((version): VersionShape => ({
        version: version.version,
        event: version.event,
        occurredAt: DateTime.formatIso(version.occurredAt),
        actor: version.actor
      }))
    })
  )

/**
 * Crypto-shreds a document: destroys its data key, so its content can never be read again from
 * the journal, snapshots or any backup; its shape (versions, times, actors) stays. The running
 * store and the projections registered with `Forgetting.Forgetting` drop the content at once.
 * Needs `documents:forget`. Irreversible.
 *
 * @since 0.1.0
 */
export const forget = (id: string) =>
  guarded(
    { action: "Documents.forget", permission: "documents:forget", target: id },
    Effect.gen(function*() {
      const documentId = yield* decodeForgetId(id)
      const store = yield* DocumentStore.DocumentStore
      // Only a document that exists is forgotten; forgetting one twice is harmless.
      yield* store.shape(documentId)
      // No write of this process interleaves: the key goes, then the plaintext this process still
      // holds goes too, the store's and the read models' (projections registered with `Forgetting`).
      yield* store.serialized(
        documentId,
        Effect.zipRight(
          Effect.flatMap(DataKeys, (keys) => keys.forget(documentId)),
          store.forget(documentId)
        )
      )
      const forgetting = yield* Effect.serviceOption(Forgetting.Forgetting)
      if (Option.isSome(forgetting)) yield* forgetting.value.forgotten(documentId)
      yield* Effect.logWarning(`document ${documentId} was forgotten: its content is destroyed`)
    })
  )

/**
 * Prunes the journal by a retention policy (see `Retention` in `@nerv/store`): the versions before
 * each document's horizon go, copied first into `policy.archive` if it names one. With `dryRun`,
 * reports what it would remove and changes nothing. Needs `journal:prune`.
 *
 * @since 0.1.0
 */
export const prune = (policy: Retention.Policy, options?: { readonly dryRun?: boolean | undefined }) =>
  guarded(
    {
      action: options?.dryRun ? "Journal.planPrune" : "Journal.prune",
      permission: "journal:prune",
      target: `older than ${Duration.format(Duration.decode(policy.olderThan))}` +
        (policy.archive === undefined ? "" : `, archived to ${policy.archive}`)
    },
    Effect.flatMap(
      Retention.Retention,
      (retention) => options?.dryRun ? retention.plan(policy) : retention.prune(policy)
    )
  )

/**
 * Rebuilds what is derived from the journal: reads every document, checks every entry, and takes
 * the snapshots long histories lack (`fromScratch`: all of them again). See `Rebuild.run` in
 * `@nerv/store`. Needs `journal:rebuild`.
 *
 * @since 0.1.0
 */
export const rebuild = (options?: { readonly fromScratch?: boolean | undefined }): Effect.Effect<
  Rebuild.Summary,
  Errors.JournalError | Errors.PermissionDenied | Errors.AuditUnavailable,
  Nerv.Services | AuditTrail | Rbac.Policy | Rbac.Principal
> =>
  guarded(
    {
      action: "Journal.rebuild",
      permission: "journal:rebuild",
      target: options?.fromScratch === true ? "from scratch" : "from the snapshots"
    },
    Rebuild.run(options)
  )

/**
 * Re-wraps every data key under the active master key (after a rotation). Needs `keys:admin`.
 *
 * @since 0.1.0
 */
export const rewrapKeys = () =>
  guarded({ action: "Keys.rewrap", permission: "keys:admin" }, Effect.flatMap(DataKeys, (keys) => keys.rewrap))

/**
 * Verifies the audit trail's hash chain (against an anchored head, if given). Needs `audit:read`.
 *
 * @since 0.1.0
 */
export const verifyAudit = (anchor?: Head) =>
  guarded(
    { action: "Audit.verify", permission: "audit:read" },
    Effect.flatMap(AuditTrail, (trail) => trail.verify(anchor))
  )

/**
 * Reads audit records after a sequence number. Needs `audit:read`.
 *
 * @since 0.1.0
 */
export const readAudit = (options?: { readonly after?: number; readonly limit?: number }) =>
  guarded(
    { action: "Audit.read", permission: "audit:read" },
    Effect.flatMap(AuditTrail, (trail) => trail.read(options))
  )
