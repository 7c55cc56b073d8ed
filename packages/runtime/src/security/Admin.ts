/**
 * The administrative programs: forgetting a document (crypto-shredding), pruning and rebuilding the
 * journal, re-wrapping the data keys, reading and verifying the audit trail. Each goes through the
 * same door as the document programs (`Access.guarded`): it runs as the principal in context, needs
 * its permission, and is audited.
 *
 * @since 0.1.0
 */
import { Access, Document, DocumentStore, type Errors, Input, type Journal } from "@nerv/core"
import { Forgetting, Rebuild, Retention } from "@nerv/store"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { AuditTrail, type Head } from "./AuditTrail.js"
import { DataKeys } from "./DataKeys.js"
import type { KeyStoreError } from "./KeyStore.js"

const decodeForgetId = Input.decoder("Documents.forget", Document.DocumentId)

/** Who a guarded administrative program runs as, and through what. */
type Door = Access.Guard | Access.Principal

/**
 * Crypto-shreds a document: destroys its data key, so its content can never be read again from
 * the journal, snapshots or any backup; its shape (versions, times, actors) stays. The running
 * store and the projections registered with `Forgetting.Forgetting` drop the content at once.
 * Needs `documents:forget`. Irreversible.
 *
 * @since 0.1.0
 */
export const forget = (id: string): Effect.Effect<
  void,
  Errors.InvalidInput | Errors.DocumentNotFound | Errors.JournalError | KeyStoreError | Access.GuardError,
  DocumentStore.DocumentStore | DataKeys | Door
> =>
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
  }).pipe(Access.guarded({ action: "Documents.forget", permission: "documents:forget", target: id }))

/**
 * Prunes the journal by a retention policy (see `Retention` in `@nerv/store`): the versions before
 * each document's horizon go, copied first into `policy.archive` if it names one. With `dryRun`,
 * reports what it would remove and changes nothing. Needs `journal:prune`.
 *
 * @since 0.1.0
 */
export const prune = (
  policy: Retention.Policy,
  options?: { readonly dryRun?: boolean | undefined }
): Effect.Effect<Retention.Pruned, Errors.JournalError | Access.GuardError, Retention.Retention | Door> =>
  Effect.flatMap(
    Retention.Retention,
    (retention) => options?.dryRun ? retention.plan(policy) : retention.prune(policy)
  ).pipe(Access.guarded({
    action: options?.dryRun ? "Journal.planPrune" : "Journal.prune",
    permission: "journal:prune",
    target: `older than ${Duration.format(Duration.decode(policy.olderThan))}` +
      (policy.archive === undefined ? "" : `, archived to ${policy.archive}`)
  }))

/**
 * Rebuilds what is derived from the journal: reads every document, checks every entry, and takes
 * the snapshots long histories lack (`fromScratch`: all of them again). See `Rebuild.run` in
 * `@nerv/store`. Needs `journal:rebuild`.
 *
 * @since 0.1.0
 */
export const rebuild = (
  options?: { readonly fromScratch?: boolean | undefined }
): Effect.Effect<Rebuild.Summary, Errors.JournalError | Access.GuardError, Journal.Journal | Door> =>
  Rebuild.run(options).pipe(Access.guarded({
    action: "Journal.rebuild",
    permission: "journal:rebuild",
    target: options?.fromScratch === true ? "from scratch" : "from the snapshots"
  }))

/**
 * Re-wraps every data key under the active master key (after a rotation). Needs `keys:admin`.
 *
 * @since 0.1.0
 */
export const rewrapKeys = () =>
  Effect.flatMap(DataKeys, (keys) => keys.rewrap).pipe(
    Access.guarded({ action: "Keys.rewrap", permission: "keys:admin" })
  )

/**
 * Verifies the audit trail's hash chain (against an anchored head, if given). Needs `audit:read`.
 *
 * @since 0.1.0
 */
export const verifyAudit = (anchor?: Head) =>
  Effect.flatMap(AuditTrail, (trail) => trail.verify(anchor)).pipe(
    Access.guarded({ action: "Audit.verify", permission: "audit:read" })
  )

/**
 * Reads audit records after a sequence number. Needs `audit:read`.
 *
 * @since 0.1.0
 */
export const readAudit = (options?: { readonly after?: number; readonly limit?: number }) =>
  Effect.flatMap(AuditTrail, (trail) => trail.read(options)).pipe(
    Access.guarded({ action: "Audit.read", permission: "audit:read" })
  )
