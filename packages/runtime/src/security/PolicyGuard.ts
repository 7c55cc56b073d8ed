/**
 * What stands in the one door (`Access.Guard`): the RBAC policy and the audit trail. Each guarded
 * call, NERV's document programs and the host's own alike:
 *
 * 1. looks up the principal's roles in the `Policy`; an empty principal, or one the policy does not
 *    name, is refused with `UnknownPrincipal` (and that refusal is recorded);
 * 2. checks the permission (with the `:own` rule, which reads the owner of what it acts on); if
 *    refused, appends a `denied` record and fails with `PermissionDenied`, changing nothing else;
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
 * @since 0.1.0
 */
import { Access, Document, Documents, IdGenerator } from "@nerv/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import { type AuditStoreError, AuditTrail, layerMemory as auditInMemory } from "./AuditTrail.js"
import * as Rbac from "./Rbac.js"

const isActor = Schema.is(Document.Actor)

const maxTarget = 200
const maxDetail = 1_000
const maxPrincipal = 200

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

/**
 * The guard over the policy and the audit trail in context.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<
  Access.Guard["Type"],
  never,
  Rbac.Policy | AuditTrail | IdGenerator.IdGenerator
> = Effect.gen(function*() {
  const policy = yield* Rbac.Policy
  const trail = yield* AuditTrail
  const ids = yield* IdGenerator.IdGenerator
  return {
    run: <A, E, R>(principal: string, operation: Access.Operation<A>, program: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const cause = yield* FiberRef.get(Documents.currentCause)
        const correlationId = Option.isSome(cause) ? cause.value.correlationId : yield* ids.next
        const target = describeTarget(operation.target)
        const known = policy.rolesOf(principal)
        const roles = Option.getOrElse(known, (): ReadonlyArray<string> => [])
        const record = (outcome: "allowed" | "denied" | "succeeded" | "failed", detail: string | null) =>
          trail.append({
            principal: clip(principal, maxPrincipal),
            roles,
            action: operation.action,
            target,
            outcome,
            detail,
            correlationId,
            causationId: Option.isSome(cause) ? cause.value.causationId : correlationId
          })
        const unavailable = (error: AuditStoreError) =>
          new Access.AuditUnavailable({ action: operation.action, reason: error.reason, cause: error })

        // A principal is recorded as the actor of what it changes: a name that is no actor is no principal.
        if (Option.isNone(known) || !isActor(principal)) {
          const unknown = new Access.UnknownPrincipal({
            principal: clip(principal, maxPrincipal),
            action: operation.action
          })
          yield* Effect.mapError(record("denied", unknown.message), unavailable)
          return yield* unknown
        }
        const owner = operation.owner === undefined ? undefined : yield* operation.owner
        if (!Rbac.isAllowed(policy, principal, roles, operation.permission, owner)) {
          const denied = new Access.PermissionDenied({
            principal,
            roles,
            action: operation.action,
            permission: operation.permission,
            target: target ?? undefined
          })
          yield* Effect.mapError(record("denied", denied.message), unavailable)
          return yield* denied
        }
        yield* Effect.mapError(record("allowed", null), unavailable)
        const correlated = Option.isSome(cause) ? program : Documents.withCorrelation(program, correlationId)
        // A span of its own only inside a traced operation (`Tracing.withTracing`): a span per call
        // would cost more than the call.
        // (Read from the context: `Effect.currentSpan` builds an exception, stack and all, when there is none.)
        const parent = yield* Effect.serviceOption(Tracer.ParentSpan)
        const traced = Option.isSome(parent) && parent.value._tag === "Span"
        const run = traced
          ? Effect.withSpan(correlated, `guarded ${operation.action}`, {
            attributes: { "nerv.principal": principal, "nerv.permission": operation.permission }
          })
          : correlated
        return yield* run.pipe(
          Effect.onExit((exit) =>
            record(
              Exit.isSuccess(exit) ? "succeeded" : "failed",
              Exit.isSuccess(exit) && operation.describe !== undefined
                ? clip(operation.describe(exit.value), maxDetail)
                : describeExit(exit)
            ).pipe(
              Effect.catchAll((error) =>
                Effect.logError(
                  `${operation.action} ran, but its outcome could not be added to the audit trail: ${error.message}`
                )
              )
            )
          )
        )
      })
  }
})

/**
 * The guard, on the policy and audit trail the host provides (`Nerv.layerSqlite` gives it the
 * configured policy and the trail in the database file).
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Access.Guard, never, Rbac.Policy | AuditTrail | IdGenerator.IdGenerator> = Layer
  .effect(Access.Guard, make)

/**
 * The guard of the test and memory layers: every named principal may do everything, an empty one
 * nothing, and every call is recorded in an audit trail kept in memory (`AuditTrail.read` shows it).
 *
 * @since 0.1.0
 */
export const layerAllowAll: Layer.Layer<Access.Guard | AuditTrail, never, IdGenerator.IdGenerator> = layer.pipe(
  Layer.provideMerge(auditInMemory),
  Layer.provide(Rbac.layerAllowAll)
)
