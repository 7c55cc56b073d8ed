import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Rbac from "../../src/security/Rbac.js"

const policy = Either.getOrThrow(Rbac.decodePolicy({
  principals: { ann: ["author"], rita: ["reader"], root: ["admin"], nemo: [] },
  roles: {
    reader: ["documents:read"],
    author: ["documents:read", "documents:write:own"],
    admin: ["*"]
  }
}))

const reason = (input: unknown, options?: Rbac.PolicyOptions) =>
  Either.match(Rbac.decodePolicy(input, options), { onLeft: (r) => r, onRight: () => "decoded" })

const allowed = (principal: string, permission: string, owner?: string) =>
  Rbac.isAllowed(policy, principal, Option.getOrElse(policy.rolesOf(principal), () => []), permission, owner)

describe("Rbac", () => {
  it("decodes a policy from an object or its JSON; principals get their roles from it", () => {
    assert.isTrue(Either.isRight(Rbac.decodePolicy(`{"roles":{"reader":["documents:read"]}}`)))
    assert.deepStrictEqual(policy.rolesOf("ann"), Option.some(["author"]))
    assert.deepStrictEqual(policy.rolesOf("nemo"), Option.some([]))
    assert.isTrue(Option.isNone(policy.rolesOf("mallory")))
    assert.isTrue(Option.isNone(policy.rolesOf("")))
    assert.isTrue(Option.isNone(policy.rolesOf("__proto__")))
    assert.isTrue(policy.grants(["reader"], "documents:read"))
    assert.isFalse(policy.grants(["reader"], "documents:write"))
    for (const permission of Rbac.permissions) assert.isTrue(policy.grants(["admin"], permission))
  })

  it("refuses a misspelt permission, an undefined role, an unknown field, a prototype key or no roles object", () => {
    assert.include(reason({ roles: { reader: ["documents:raed"] } }), "documents:raed")
    assert.include(reason({ roles: { reader: ["documents:raed"] } }), "is not a permission NERV or the host declares")
    assert.include(reason({ principals: { ann: ["editor"] }, roles: {} }), "the role \"editor\" is not defined")
    assert.include(reason({ principals: { "": ["reader"] }, roles: { reader: [] } }), "principal")
    assert.include(reason({ roles: {}, default: "allow" }), "default")
    assert.include(reason(`{"roles":{"__proto__":["*"]}}`), `roles.__proto__: is unexpected`)
    assert.include(reason(`{"roles":{"constructor":["*"],"__proto__":["*"]}}`), `roles.__proto__: is unexpected`)
    assert.include(reason({ roles: { "-admin": ["*"] } }), `roles["-admin"]: is unexpected`)
    assert.notStrictEqual(reason("{not json"), "decoded")
    assert.notStrictEqual(reason(null), "decoded")
    assert.notStrictEqual(reason({ roles: [] }), "decoded")
  })

  it("takes a host's own permissions once the host declares them", () => {
    const spec = { principals: { nia: ["analyst"] }, roles: { analyst: ["nlp:analyze"] } }
    assert.include(reason(spec), "\"nlp:analyze\" is not a permission NERV or the host declares")
    const declared = Either.getOrThrow(Rbac.decodePolicy(spec, { permissions: ["nlp:analyze"] }))
    assert.isTrue(Rbac.isAllowed(declared, "nia", ["analyst"], "nlp:analyze"))
    assert.isFalse(Rbac.isAllowed(declared, "nia", ["analyst"], "documents:read"))
    assert.include(reason({ roles: { a: ["NLP Analyze"] } }), "lower-case words joined by ':'")
  })

  it("denies by default: unknown principals and roles, no roles, an empty policy", () => {
    assert.isTrue(allowed("rita", "documents:read"))
    assert.isFalse(allowed("rita", "documents:write"))
    assert.isFalse(allowed("nemo", "documents:read"))
    assert.isFalse(allowed("mallory", "documents:read"))
    assert.isFalse(Rbac.isAllowed(policy, "x", ["superuser"], "documents:read"))
    assert.isFalse(Rbac.isAllowed(policy, "x", ["constructor", "toString", "__proto__"], "documents:read"))
    const empty = Either.getOrThrow(Rbac.makePolicy({ roles: {} }))
    for (const permission of Rbac.permissions) assert.isFalse(Rbac.isAllowed(empty, "root", ["admin"], permission))
  })

  it("lets an author act on their own documents only (p:own grants p on what the principal owns)", () => {
    assert.isTrue(allowed("ann", "documents:write", "ann"))
    assert.isFalse(allowed("ann", "documents:write", "bob"))
    assert.isFalse(allowed("ann", "documents:write"))
    assert.isFalse(allowed("ann", "documents:delete", "ann"))
  })

  it("allowAll names every principal but an empty one", () => {
    assert.isTrue(Rbac.isAllowed(Rbac.allowAll, "anyone", ["*"], "journal:prune"))
    assert.isTrue(Option.isSome(Rbac.allowAll.rolesOf("anyone")))
    assert.isTrue(Option.isNone(Rbac.allowAll.rolesOf("")))
    assert.isTrue(Option.isNone(Rbac.allowAll.rolesOf("  ")))
  })

  it.effect(
    "reads the policy from NERV_RBAC_POLICY, NERV_RBAC_POLICY_FILE or the default file, else denies everything",
    () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "nerv-rbac-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const logs: Array<string> = []
        const load = (env: Record<string, string>, defaultFile?: string) =>
          Effect.flatMap(Rbac.Policy, Effect.succeed).pipe(
            Effect.provide(Rbac.layerPolicyConfig({ defaultFile })),
            Effect.provide(Layer.merge(
              Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message)))),
              Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
            ))
          )
        const json = `{"principals":{"rita":["reader"]},"roles":{"reader":["documents:read"]}}`
        const configured = yield* load({ NERV_RBAC_POLICY: json })
        assert.deepStrictEqual(configured.rolesOf("rita"), Option.some(["reader"]))
        const file = join(dir, "policy.json")
        writeFileSync(file, json)
        const named = yield* load({ NERV_RBAC_POLICY_FILE: file })
        assert.deepStrictEqual(named.rolesOf("rita"), Option.some(["reader"]))
        const beside = yield* load({}, file)
        assert.deepStrictEqual(beside.rolesOf("rita"), Option.some(["reader"]))
        const missing = yield* load({}, join(dir, "absent.json"))
        assert.isFalse(missing.grants(["admin", "reader"], "documents:read"))
        assert.include(logs.join("\n"), "every guarded operation is denied")
        const invalid = yield* Effect.flip(load({ NERV_RBAC_POLICY: `{"roles":{"reader":["documents:*"]}}` }))
        assert.include(String(invalid), "invalid RBAC policy")
        const unreadable = yield* Effect.flip(load({ NERV_RBAC_POLICY_FILE: join(dir, "nope.json") }))
        assert.include(String(unreadable), "could not read the RBAC policy file")
      }).pipe(Effect.scoped)
  )

  it("says in a line or two what is wrong with a policy and where, not the Schema's whole type tree", () => {
    const reasonOf = (text: string) =>
      Either.getLeft(Rbac.decodePolicy(text)).pipe((o) => o._tag === "Some" ? o.value : "")
    const misspelt = reasonOf(`{"roles":{"editor":["documents:read","documents:reed"]}}`)
    assert.strictEqual(misspelt.split("\n").length, 1)
    assert.match(misspelt, /^roles\.editor: "documents:reed" is not a permission NERV or the host declares/)
    assert.isBelow(misspelt.length, 400)
    assert.strictEqual(reasonOf("[]").split("\n").length, 1)
    assert.include(reasonOf("[]"), "expected a policy, {\"principals\"")
    assert.include(reasonOf("not json"), "is not valid JSON")
    assert.include(reasonOf(`{"roles":{},"rules":1}`), "rules: is unexpected")
  })
})
