/**
 * Role-based access control: the policy. It names the principals and gives each its roles, and
 * gives each role its permissions; everything it does not grant is denied, including to a principal
 * it does not name and under an empty or missing policy. `PolicyGuard` checks every guarded call
 * against it.
 *
 * The policy is JSON, decoded with Schema, so a typo in a permission or role name is a start-up
 * error rather than a silent denial:
 *
 * ```json
 * { "principals": { "ann": ["author"], "bob": ["editor"], "dora": ["dpo"], "root": ["admin"] },
 *   "roles": {
 *     "reader": ["documents:read"],
 *     "author": ["documents:read", "documents:write:own", "documents:delete:own"],
 *     "editor": ["documents:read", "documents:write", "documents:delete"],
 *     "dpo":    ["documents:read", "documents:forget", "audit:read"],
 *     "admin":  ["*"] } }
 * ```
 *
 * Permissions are open: NERV's own are `permissions`; a host declares its own (`nlp:analyze`) when
 * it builds the policy layer, and guards its programs with `Access.guarded`. Any permission `p` is
 * also granted, on what the principal owns (the documents it wrote), by `p:own`.
 *
 * @since 0.1.0
 */
import { Document, Input } from "@nerv/core"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs"

/**
 * A permission name: lower-case words joined by `:` (`documents:read`, `nlp:analyze`), each a
 * letter then up to 31 of `a-z 0-9 _ -`.
 *
 * @since 0.1.0
 */
export const Permission = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_-]{0,31}(:[a-z][a-z0-9_-]{0,31}){1,3}$/, {
    message: () => "a permission is lower-case words joined by ':', such as documents:read or nlp:analyze"
  })
)

/**
 * @since 0.1.0
 */
export type Permission = string

/**
 * The permissions NERV's own programs check. `Documents` needs the `documents:` ones (a policy may
 * grant `documents:write:own` and `documents:delete:own` instead, for the principal's own
 * documents); the administrative programs (`Admin`) the others.
 *
 * @since 0.1.0
 */
export const permissions: ReadonlyArray<Permission> = [
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
  "outbox:admin"
]

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
 * A principal name as a policy writes it: what NERV records as the actor of a change (trimmed, 1 to
 * 100 characters), without control characters.
 *
 * @since 0.1.0
 */
export const PrincipalName = Document.Actor.pipe(
  Schema.filter((name) => !/[\u0000-\u001f\u007f]/.test(name), {
    message: () => "a principal is a name without control characters"
  })
)

/**
 * The policy as written: the principals and their roles, the roles and what each grants (`"*"`
 * grants everything).
 *
 * @since 0.1.0
 */
export const PolicySpec = Schema.Struct({
  principals: Schema.optionalWith(Schema.Record({ key: PrincipalName, value: Schema.Array(Role) }), {
    exact: true
  }),
  roles: Schema.Record({ key: Role, value: Schema.Array(Schema.Union(Permission, Schema.Literal("*"))) })
}).annotations({
  identifier:
    "a policy, {\"principals\": {\"<principal>\": [\"<role>\", …]}, \"roles\": {\"<role>\": [\"<permission>\", …]}}"
})

/**
 * @since 0.1.0
 */
export interface PolicyService {
  /** The roles of a principal the policy names; none for any other (or an empty name). */
  readonly rolesOf: (principal: string) => Option.Option<ReadonlyArray<string>>
  /** Whether these roles grant the permission (directly, or through `*`). Unknown roles grant nothing. */
  readonly grants: (roles: ReadonlyArray<string>, permission: Permission) => boolean
}

/**
 * The policy in force.
 *
 * @since 0.1.0
 */
export class Policy extends Context.Tag("@nerv/runtime/Policy")<Policy, PolicyService>() {}

/**
 * What a policy layer is told besides the policy: the permissions the host declares beyond NERV's.
 *
 * @since 0.1.0
 */
export interface PolicyOptions {
  readonly permissions?: ReadonlyArray<Permission> | undefined
}

/**
 * A policy from its decoded form; refuses a permission nobody declared and a role nobody defined.
 * Names are kept in `Map`s, so that none can reach an object prototype.
 *
 * @since 0.1.0
 */
export const makePolicy = (
  spec: {
    readonly principals?: Readonly<Record<string, ReadonlyArray<string>>>
    readonly roles: Readonly<Record<string, ReadonlyArray<string>>>
  },
  options?: PolicyOptions
): Either.Either<PolicyService, string> => {
  const known = new Set([...permissions, ...(options?.permissions ?? [])])
  const problems: Array<string> = []
  const roles = new Map<string, ReadonlySet<string> | "*">()
  for (const [role, granted] of Object.entries(spec.roles)) {
    for (const permission of granted) {
      if (permission !== "*" && !known.has(permission)) {
        problems.push(
          `roles.${role}: ${JSON.stringify(permission)} is not a permission NERV or the host declares ` +
            `(known: ${[...known].join(", ")})`
        )
      }
    }
    roles.set(role, granted.includes("*") ? "*" : new Set(granted))
  }
  const principals = new Map<string, ReadonlyArray<string>>()
  for (const [principal, names] of Object.entries(spec.principals ?? {})) {
    for (const role of names) {
      if (!roles.has(role)) problems.push(`principals.${principal}: the role ${JSON.stringify(role)} is not defined`)
    }
    principals.set(principal, names)
  }
  if (problems.length > 0) return Either.left(problems.join("\n"))
  return Either.right({
    rolesOf: (principal) => Option.fromNullable(principals.get(principal)),
    grants: (names, permission) =>
      names.some((name) => {
        const granted = roles.get(name)
        return granted === "*" || (granted !== undefined && granted.has(permission))
      })
  })
}

/**
 * A policy that names every principal (but an empty one) and grants it everything: what the test
 * and memory layers use, so that tests act as whoever they like in one line.
 *
 * @since 0.1.0
 */
export const allowAll: PolicyService = {
  rolesOf: (principal) => principal.trim() === "" ? Option.none() : Option.some(["*"]),
  grants: (roles) => roles.length > 0
}

/**
 * The policy that grants everything to every named principal, as a layer.
 *
 * @since 0.1.0
 */
export const layerAllowAll: Layer.Layer<Policy> = Layer.succeed(Policy, allowAll)

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
export const decodePolicy = (input: unknown, options?: PolicyOptions): Either.Either<PolicyService, string> => {
  try {
    return (typeof input === "string" ? decodeSpecJson(input) : decodeSpec(input)).pipe(
      Either.mapLeft(Input.summarize),
      Either.flatMap((spec) => makePolicy(spec, options))
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
export const layerPolicy = (input: unknown, options?: PolicyOptions): Layer.Layer<Policy, ConfigError.ConfigError> =>
  Layer.effect(
    Policy,
    Either.match(decodePolicy(input, options), {
      onLeft: (reason) => Effect.fail(ConfigError.InvalidData([], `invalid RBAC policy:\n${reason}`)),
      onRight: Effect.succeed
    })
  )

const denyAll = Either.getOrThrow(makePolicy({ roles: {} }))

/**
 * The policy from configuration: `NERV_RBAC_POLICY` (its JSON), else the file `NERV_RBAC_POLICY_FILE`
 * names, else `defaultFile` (if given and present). Without any, nothing is allowed, and a warning
 * says so.
 *
 * @since 0.1.0
 */
export const layerPolicyConfig = (
  options?: PolicyOptions & { readonly defaultFile?: string | undefined }
): Layer.Layer<Policy, ConfigError.ConfigError> =>
  Layer.effect(
    Policy,
    Effect.gen(function*() {
      const invalid = (path: ReadonlyArray<string>, where: string) => (reason: string) =>
        Effect.fail(ConfigError.InvalidData([...path], `invalid RBAC policy${where}:\n${reason}`))
      const text = yield* Config.option(Config.string("NERV_RBAC_POLICY"))
      if (Option.isSome(text)) {
        return yield* Either.match(decodePolicy(text.value, options), {
          onLeft: invalid(["NERV_RBAC_POLICY"], ""),
          onRight: Effect.succeed
        })
      }
      const named = yield* Config.option(Config.string("NERV_RBAC_POLICY_FILE"))
      const file = Option.getOrUndefined(named) ??
        (options?.defaultFile !== undefined && Fs.existsSync(options.defaultFile) ? options.defaultFile : undefined)
      if (file === undefined) {
        return yield* Effect.as(
          Effect.logWarning(
            "no RBAC policy configured (NERV_RBAC_POLICY, NERV_RBAC_POLICY_FILE): every guarded operation is denied"
          ),
          denyAll
        )
      }
      const path = Option.isSome(named) ? ["NERV_RBAC_POLICY_FILE"] : []
      const json = yield* Effect.try({
        try: () => Fs.readFileSync(file, "utf8"),
        catch: (error) =>
          ConfigError.InvalidData(path, `could not read the RBAC policy file ${file}: ${(error as Error).message}`)
      })
      return yield* Either.match(decodePolicy(json, options), {
        onLeft: invalid(path, ` in ${file}`),
        onRight: Effect.succeed
      })
    })
  )

/**
 * Does the policy let these roles do this? Pure: the same answer for the same inputs. A permission
 * `p` is granted by `p` itself, or, when the principal owns what the call acts on, by `p:own`.
 *
 * @since 0.1.0
 */
export const isAllowed = (
  policy: PolicyService,
  principal: string,
  roles: ReadonlyArray<string>,
  permission: Permission,
  owner?: string | undefined
): boolean =>
  policy.grants(roles, permission) ||
  (owner !== undefined && owner === principal && policy.grants(roles, `${permission}:own`))
