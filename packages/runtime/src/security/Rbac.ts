/**
 * Role-based access control. Each request runs with a `Principal` (who, with which roles); a
 * `Policy` maps roles to permissions; `requirePermission` guards a program. Everything not granted
 * is denied, including to a principal with no roles and under an empty or missing policy.
 *
 * The policy is JSON, decoded with Schema, so a typo in a permission name is a start-up error
 * rather than a silent denial:
 *
 * ```json
 * { "roles": {
 *     "reader": ["documents:read"],
 *     "author": ["documents:read", "documents:write:own", "documents:delete:own"],
 *     "editor": ["documents:read", "documents:write", "documents:delete"],
 *     "dpo":    ["documents:read", "documents:forget", "audit:read"],
 *     "admin":  ["*"] } }
 * ```
 *
 * The `:own` permissions are resource-level: they allow the action only on documents whose author
 * is the principal (and allow creating documents, whose author the principal becomes).
 *
 * @since 0.1.0
 */
import { Document, Errors, Input } from "@nerv/core"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"

/**
 * Every permission NERV checks.
 *
 * @since 0.1.0
 */
export const Permission = Schema.Literal(
  "documents:read",
  "documents:write",
  "documents:write:own",
  "documents:delete",
  "documents:delete:own",
  "documents:forget",
  "audit:read",
  "keys:admin",
  "journal:prune",
  "journal:rebuild",
  "intent:analyze"
)

/**
 * @since 0.1.0
 */
export type Permission = typeof Permission.Type

/**
 * A role name: a letter, then up to 63 of `A-Z a-z 0-9 . _ -`. The first letter rules out names such
 * as `__proto__`, which a plain object would take for its prototype.
 *
 * @since 0.1.0
 */
export const Role = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z][A-Za-z0-9._-]{0,63}$/, {
    message: () => "a role is a letter followed by up to 63 of A-Z a-z 0-9 . _ -"
  })
)

/**
 * The policy as written: roles and what each grants (`"*"` grants everything).
 *
 * @since 0.1.0
 */
export const PolicySpec = Schema.Struct({
  roles: Schema.Record({ key: Role, value: Schema.Array(Schema.Union(Permission, Schema.Literal("*"))) })
}).annotations({ identifier: "a policy, {\"roles\": {\"<role>\": [\"<permission>\", …]}}" })

/**
 * @since 0.1.0
 */
export interface PolicyService {
  /** The permissions these roles grant together. Unknown roles grant nothing. */
  readonly grants: (roles: ReadonlyArray<string>) => ReadonlySet<Permission>
}

/**
 * The policy in force.
 *
 * @since 0.1.0
 */
export class Policy extends Context.Tag("@nerv/runtime/Policy")<Policy, PolicyService>() {}

const allPermissions: ReadonlyArray<Permission> = Permission.literals

/**
 * A policy from its decoded form. Roles are kept in a `Map`, so that no role name can reach an
 * object prototype.
 *
 * @since 0.1.0
 */
export const makePolicy = (spec: typeof PolicySpec.Type): PolicyService => {
  const roles = new Map<string, ReadonlySet<Permission>>()
  for (const [role, permissions] of Object.entries(spec.roles)) {
    roles.set(role, new Set(permissions.includes("*") ? allPermissions : permissions as ReadonlyArray<Permission>))
  }
  return {
    grants: (names) => {
      const granted = new Set<Permission>()
      for (const name of names) {
        for (const permission of roles.get(name) ?? []) granted.add(permission)
      }
      return granted
    }
  }
}

const decodeSpec = Schema.decodeUnknownEither(PolicySpec, { errors: "all", onExcessProperty: "error" })
const decodeSpecJson = Schema.decodeUnknownEither(Schema.parseJson(PolicySpec), {
  errors: "all",
  onExcessProperty: "error"
})

/**
 * Decodes a policy (an object, or its JSON text), or explains what is wrong with it.
 *
 * @since 0.1.0
 */
export const decodePolicy = (input: unknown): Either.Either<PolicyService, string> => {
  try {
    return (typeof input === "string" ? decodeSpecJson(input) : decodeSpec(input)).pipe(
      Either.map(makePolicy),
      Either.mapLeft(Input.summarize)
    )
  } catch {
    // A getter or a proxy that throws when the policy is read: not a policy.
    return Either.left("the policy cannot be read (reading it threw an exception)")
  }
}

/**
 * A policy layer from a policy object or its JSON; fails with a `ConfigError` if it is invalid.
 *
 * @since 0.1.0
 */
export const layerPolicy = (input: unknown): Layer.Layer<Policy, ConfigError.ConfigError> =>
  Layer.effect(
    Policy,
    Either.match(decodePolicy(input), {
      onLeft: (reason) => Effect.fail(ConfigError.InvalidData([], `invalid RBAC policy:\n${reason}`)),
      onRight: Effect.succeed
    })
  )

/**
 * The policy from `NERV_RBAC_POLICY` (JSON). Without it, nothing is allowed, and a warning says so.
 *
 * @since 0.1.0
 */
export const layerPolicyConfig: Layer.Layer<Policy, ConfigError.ConfigError> = Layer.effect(
  Policy,
  Effect.flatMap(Config.option(Config.string("NERV_RBAC_POLICY")), (text) =>
    Option.match(text, {
      onNone: () =>
        Effect.as(
          Effect.logWarning("no RBAC policy configured (NERV_RBAC_POLICY): every guarded operation is denied"),
          makePolicy({ roles: {} })
        ),
      onSome: (json) =>
        Either.match(decodePolicy(json), {
          onLeft: (reason) =>
            Effect.fail(ConfigError.InvalidData(["NERV_RBAC_POLICY"], `invalid RBAC policy:\n${reason}`)),
          onRight: Effect.succeed
        })
    }))
)

/**
 * Who is making the current request. The id is the actor NERV records (author, editor).
 *
 * @since 0.1.0
 */
export const PrincipalSpec = Schema.Struct({ id: Document.Actor, roles: Schema.Array(Role) })

/**
 * @since 0.1.0
 */
export interface PrincipalService {
  readonly id: string
  readonly roles: ReadonlyArray<string>
}

/**
 * The principal of the current request, provided per request (`withPrincipal`).
 *
 * @since 0.1.0
 */
export class Principal extends Context.Tag("@nerv/runtime/Principal")<Principal, PrincipalService>() {}

/**
 * Decodes a principal from untrusted input (a token's claims, a header).
 *
 * @since 0.1.0
 */
export const decodePrincipal: (input: unknown) => Effect.Effect<PrincipalService, Errors.InvalidInput> = Input
  .decoder("Principal", PrincipalSpec)

/**
 * Runs a program on behalf of a principal.
 *
 * @since 0.1.0
 */
export const withPrincipal =
  (principal: PrincipalService) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Principal>> =>
    Effect.provideService(self, Principal, principal)

/**
 * What a permission check is about, for the resource-level rules and the error message.
 *
 * @since 0.1.0
 */
export interface Resource {
  /** The operation, e.g. `Documents.update`. Defaults to the permission. */
  readonly action?: string | undefined
  /** What it acts on, e.g. a document id. */
  readonly target?: string | undefined
  /** The author of the document acted on, or the principal itself for a new document. */
  readonly owner?: string | undefined
}

const ownVariant: Partial<Record<Permission, Permission>> = {
  "documents:write": "documents:write:own",
  "documents:delete": "documents:delete:own"
}

/**
 * Does the policy let this principal do this? Pure: the same answer for the same inputs.
 *
 * @since 0.1.0
 */
export const isAllowed = (
  policy: PolicyService,
  principal: PrincipalService,
  permission: Permission,
  resource?: Resource
): boolean => {
  const granted = policy.grants(principal.roles)
  if (granted.has(permission)) return true
  const own = ownVariant[permission]
  return own !== undefined && resource?.owner !== undefined && resource.owner === principal.id && granted.has(own)
}

/**
 * Checks a permission for the principal in context; fails with `PermissionDenied` otherwise.
 *
 * @since 0.1.0
 */
export const check = (
  permission: Permission,
  resource?: Resource
): Effect.Effect<void, Errors.PermissionDenied, Principal | Policy> =>
  Effect.flatMap(
    Effect.zip(Principal, Policy),
    ([principal, policy]) =>
      isAllowed(policy, principal, permission, resource) ? Effect.void : Effect.fail(
        new Errors.PermissionDenied({
          principal: principal.id,
          roles: principal.roles,
          action: resource?.action ?? permission,
          permission,
          target: resource?.target
        })
      )
  )

/**
 * Guards a program: it runs only if the principal in context has the permission; otherwise the
 * call fails with `PermissionDenied` and the program never starts.
 *
 * @since 0.1.0
 */
export const requirePermission = (permission: Permission, resource?: Resource) =>
<A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Errors.PermissionDenied, R | Principal | Policy> =>
  Effect.zipRight(check(permission, resource), self)
