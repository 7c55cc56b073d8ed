/**
 * The one door to the documents. Every document program runs as a `Principal` (who is asking) and
 * through the `Guard` port (may they, and what is recorded of it). Core only states the door; the
 * host's layer decides what stands in it: the durable layer a guard that checks a deny-by-default
 * policy and writes a hash-chained audit trail (`PolicyGuard` in `@nerv/runtime`), the test and
 * memory layers the same guard over a policy that allows every named principal and a trail kept in
 * memory.
 *
 * Hosts guard their own programs with the same combinator and permissions of their own:
 *
 * ```ts
 * const summarize = (id: string) =>
 *   Access.guarded({ action: "Nlp.summarize", permission: "nlp:analyze", target: id })(program)
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"

/**
 * Who makes the current request. The id is the actor NERV records of every change (author, editor)
 * and the name the policy gives roles to; callers never name another actor.
 *
 * @since 0.1.0
 */
export class Principal extends Context.Tag("@nerv/core/Principal")<Principal, {
  readonly id: string
}>() {}

/**
 * Runs a program as a principal (for one request, or to change who acts inside a test).
 *
 * @since 0.1.0
 */
export const as: {
  (principal: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, Principal>>
  <A, E, R>(self: Effect.Effect<A, E, R>, principal: string): Effect.Effect<A, E, Exclude<R, Principal>>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, principal: string) =>
    Effect.provideService(self, Principal, { id: principal })
)

/**
 * A principal for everything built on this layer (a script, a test, the local command line).
 *
 * @since 0.1.0
 */
export const layerPrincipal = (principal: string): Layer.Layer<Principal> => Layer.succeed(Principal, { id: principal })

/**
 * The principal's id: who the program acts as.
 *
 * @since 0.1.0
 */
export const principalId: Effect.Effect<string, never, Principal> = Effect.map(Principal, (principal) => principal.id)

/**
 * What a guarded operation is: its name (`Documents.update`), the permission it needs
 * (`documents:write`, or any permission a host declares), what it acts on, and who owns that (for
 * the `:own` permissions a policy may grant instead).
 *
 * @since 0.1.0
 */
export interface Operation<A = unknown> {
  readonly action: string
  readonly permission: string
  /** What it acts on, e.g. a document id; not trusted (bad input is described, not recorded as is). */
  readonly target?: unknown
  /** The owner of what it acts on (the author of a document), read only when a policy needs it. */
  readonly owner?: Effect.Effect<string | undefined> | undefined
  /** What the outcome record says of a success (default: nothing). */
  readonly describe?: ((value: A) => string) | undefined
}

/**
 * No role of the principal grants the permission an operation needs. Nothing was changed.
 *
 * @since 0.1.0
 */
export class PermissionDenied extends Data.TaggedError("PermissionDenied")<{
  readonly principal: string
  readonly roles: ReadonlyArray<string>
  readonly action: string
  readonly permission: string
  readonly target?: string | undefined
}> {
  override get message(): string {
    const roles = this.roles.length === 0 ? "no roles" : `roles ${this.roles.join(", ")}`
    const target = this.target === undefined ? "" : ` on ${this.target}`
    return `${this.principal} (${roles}) may not ${this.action}${target}: it needs the permission ${this.permission}, ` +
      `which none of those roles grants`
  }
}

/**
 * The principal is empty or unknown to the policy: nobody is allowed to act as it. Nothing was
 * changed.
 *
 * @since 0.1.0
 */
export class UnknownPrincipal extends Data.TaggedError("UnknownPrincipal")<{
  readonly principal: string
  readonly action: string
}> {
  override get message(): string {
    return this.principal.trim() === ""
      ? `${this.action} was refused: no principal was named (name one the policy knows)`
      : `${this.action} was refused: the policy knows no principal ${JSON.stringify(this.principal)} ` +
        `(add it to the policy's "principals", or act as one it names)`
  }
}

/**
 * The audit trail could not record an operation, so the operation was not carried out.
 *
 * @since 0.1.0
 */
export class AuditUnavailable extends Data.TaggedError("AuditUnavailable")<{
  readonly action: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.action} was not carried out because its audit record could not be written: ${this.reason}`
  }
}

/**
 * How a guarded call can fail besides the program's own errors.
 *
 * @since 0.1.0
 */
export type GuardError = PermissionDenied | UnknownPrincipal | AuditUnavailable

/**
 * The port every guarded program goes through. `run` decides whether `principal` may carry out
 * `operation`; if not, it fails (and `program` never starts); if so, it runs `program`. What it
 * records of the attempt, the decision and the outcome is the implementation's business.
 *
 * @since 0.1.0
 */
export class Guard extends Context.Tag("@nerv/core/Guard")<Guard, {
  readonly run: <A, E, R>(
    principal: string,
    operation: Operation<A>,
    program: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | GuardError, R>
}>() {}

/**
 * Guards a program: it runs as the principal in context, through the `Guard`. What NERV's document
 * programs use, and what hosts use for their own programs and permissions.
 *
 * @since 0.1.0
 */
export const guarded: {
  <A>(
    operation: Operation<NoInfer<A>>
  ): <E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | GuardError, R | Guard | Principal>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    operation: Operation<NoInfer<A>>
  ): Effect.Effect<A, E | GuardError, R | Guard | Principal>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, operation: Operation<A>) =>
    Effect.flatMap(
      Effect.context<Guard | Principal>(),
      (context) => Context.get(context, Guard).run(Context.get(context, Principal).id, operation, self)
    )
)
