import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Ref from "effect/Ref"
import * as Rbac from "../../src/security/Rbac.js"

const policy = Either.getOrThrow(Rbac.decodePolicy({
  roles: {
    reader: ["documents:read"],
    author: ["documents:read", "documents:write:own"],
    admin: ["*"]
  }
}))

const reason = (input: unknown) =>
  Either.match(Rbac.decodePolicy(input), { onLeft: (r) => r, onRight: () => "decoded" })

describe("Rbac", () => {
  it("decodes a policy from an object or its JSON", () => {
    assert.isTrue(Either.isRight(Rbac.decodePolicy(`{"roles":{"reader":["documents:read"]}}`)))
    assert.deepStrictEqual([...policy.grants(["reader"])], ["documents:read"])
    assert.deepStrictEqual(policy.grants(["admin"]).size, Rbac.Permission.literals.length)
    assert.deepStrictEqual([...policy.grants(["reader", "author"])].sort(), ["documents:read", "documents:write:own"])
  })

  it("refuses a policy with a misspelt permission, an unknown field, a prototype key or no roles object", () => {
    assert.include(reason({ roles: { reader: ["documents:raed"] } }), "documents:raed")
    assert.include(reason({ roles: {}, default: "allow" }), "default")
    assert.include(reason(`{"roles":{"__proto__":["*"]}}`), `roles.__proto__: is unexpected`)
    assert.include(reason(`{"roles":{"constructor":["*"],"__proto__":["*"]}}`), `roles.__proto__: is unexpected`)
    assert.include(reason({ roles: { "-admin": ["*"] } }), `roles["-admin"]: is unexpected`)
    assert.notStrictEqual(reason("{not json"), "decoded")
    assert.notStrictEqual(reason(null), "decoded")
    assert.notStrictEqual(reason({ roles: [] }), "decoded")
  })

  it("denies by default: unknown roles, no roles, an empty policy", () => {
    const ann = { id: "ann", roles: ["reader"] }
    assert.isTrue(Rbac.isAllowed(policy, ann, "documents:read"))
    assert.isFalse(Rbac.isAllowed(policy, ann, "documents:write"))
    assert.isFalse(Rbac.isAllowed(policy, { id: "x", roles: ["superuser"] }, "documents:read"))
    assert.isFalse(Rbac.isAllowed(policy, { id: "x", roles: [] }, "documents:read"))
    assert.isFalse(
      Rbac.isAllowed(policy, { id: "x", roles: ["constructor", "toString", "__proto__"] }, "documents:read")
    )
    const empty = Rbac.makePolicy({ roles: {} })
    for (const permission of Rbac.Permission.literals) {
      assert.isFalse(Rbac.isAllowed(empty, { id: "root", roles: ["admin"] }, permission))
    }
  })

  it("lets an author act on their own documents only", () => {
    const ann = { id: "ann", roles: ["author"] }
    assert.isTrue(Rbac.isAllowed(policy, ann, "documents:write", { owner: "ann" }))
    assert.isFalse(Rbac.isAllowed(policy, ann, "documents:write", { owner: "bob" }))
    assert.isFalse(Rbac.isAllowed(policy, ann, "documents:write"))
    assert.isFalse(Rbac.isAllowed(policy, ann, "documents:delete", { owner: "ann" }))
  })

  it.effect("requirePermission runs the program only when allowed, and names who, what and which permission", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(0)
      const program = Ref.update(ran, (n) => n + 1).pipe(
        Rbac.requirePermission("documents:write", { action: "Documents.update", target: "doc-1", owner: "bob" })
      )
      const provide = (principal: Rbac.PrincipalService) => (self: typeof program) =>
        self.pipe(Rbac.withPrincipal(principal), Effect.provideService(Rbac.Policy, policy))
      const denied = yield* program.pipe(provide({ id: "ann", roles: ["author"] }), Effect.flip)
      assert.strictEqual(denied._tag, "PermissionDenied")
      assert.deepStrictEqual(
        { principal: denied.principal, action: denied.action, permission: denied.permission, target: denied.target },
        { principal: "ann", action: "Documents.update", permission: "documents:write", target: "doc-1" }
      )
      assert.include(denied.message, "ann (roles author) may not Documents.update on doc-1")
      assert.strictEqual(yield* Ref.get(ran), 0)
      yield* program.pipe(provide({ id: "bob", roles: ["author"] }))
      yield* program.pipe(provide({ id: "root", roles: ["admin"] }))
      assert.strictEqual(yield* Ref.get(ran), 2)
    }))

  it.effect("reads the policy from NERV_RBAC_POLICY, denying everything (with a warning) when it is missing", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const load = (env: Record<string, string>) =>
        Effect.flatMap(Rbac.Policy, Effect.succeed).pipe(
          Effect.provide(Rbac.layerPolicyConfig),
          Effect.provide(Layer.merge(
            Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message)))),
            Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
          ))
        )
      const configured = yield* load({ NERV_RBAC_POLICY: `{"roles":{"reader":["documents:read"]}}` })
      assert.isTrue(configured.grants(["reader"]).has("documents:read"))
      const missing = yield* load({})
      assert.strictEqual(missing.grants(["admin", "reader"]).size, 0)
      assert.include(logs.join("\n"), "every guarded operation is denied")
      const invalid = yield* Effect.flip(load({ NERV_RBAC_POLICY: `{"roles":{"reader":["documents:*"]}}` }))
      assert.include(String(invalid), "invalid RBAC policy")
    }))

  it("says in a line or two what is wrong with a policy and where, not the Schema's whole type tree", () => {
    const reasonOf = (text: string) =>
      Either.getLeft(Rbac.decodePolicy(text)).pipe((o) => o._tag === "Some" ? o.value : "")
    const misspelt = reasonOf(`{"roles":{"editor":["documents:read","documents:reed"]}}`)
    assert.strictEqual(misspelt.split("\n").length, 1)
    assert.match(misspelt, /^roles\.editor\[1\]: expected one of "documents:read", .*"\*"; got "documents:reed"$/)
    assert.isBelow(misspelt.length, 400)
    assert.strictEqual(reasonOf("[]").split("\n").length, 1)
    assert.include(reasonOf("[]"), "expected a policy, {\"roles\"")
    assert.include(reasonOf("not json"), "is not valid JSON")
    assert.deepStrictEqual(reasonOf(`{"roles":{},"rules":1}`), "rules: is unexpected, expected: \"roles\"")
  })

  it.effect("decodes principals from untrusted input with a typed error", () =>
    Effect.gen(function*() {
      const ok = yield* Rbac.decodePrincipal({ id: "ann", roles: ["reader"] })
      assert.deepStrictEqual(ok, { id: "ann", roles: ["reader"] })
      for (const bad of [null, "ann", { id: "", roles: [] }, { id: "ann", roles: ["__proto__"] }, { id: "ann" }]) {
        const error = yield* Effect.flip(Rbac.decodePrincipal(bad))
        assert.strictEqual(error._tag, "InvalidInput")
      }
    }))
})
