import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Errors, Outbox } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { AuditTrail, Cli, Nerv, Performers } from "../../src/index.js"
import { captureConsole } from "../fixtures/console.js"
import { dataKeysMemory, masterKeys } from "../security/fixtures.js"

const services = Layer.mergeAll(
  Nerv.layerTest,
  AuditTrail.layerMemory,
  dataKeysMemory(masterKeys.k1)
)

const { err, out } = captureConsole()

/** A host's effect type that has no performer in this process. */
const Webhook = Outbox.effectType("webhook", Schema.Struct({ url: Schema.String }))

describe("nerv effects", () => {
  it.scoped("lists the types with their performers and counts, the dead letters, and re-drives them", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(services)
      const nerv = (...args: Array<string>) =>
        Cli.run(["node", "nerv", ...args], { open: () => Layer.succeedContext(built) }).pipe(
          Effect.provide(NodeContext.layer)
        )
      const run = <A, E>(effect: Effect.Effect<A, E, Nerv.OutboxServices>) => Effect.provide(effect, built)
      // Notifications fail (the mail server is down) until told otherwise.
      let down = true
      yield* run(
        Performers.add(
          Outbox.Notify,
          ({ to }) =>
            down ? Effect.fail(new Errors.NotificationFailed({ to, reason: "mail server down" })) : Effect.void
        )
      )
      const rules = Layer.succeed(Outbox.Rules, [
        Outbox.notifyAuthor,
        (decided: Outbox.Decided) => [Outbox.plan(Webhook, { url: `https://example.com/${decided.state.id}` })]
      ])

      yield* nerv("create", "--title", "Plan", "--content", "Draft", "--as", "ann").pipe(Effect.provide(rules))
      const id = out.pop()!
      yield* nerv("update", id, "--content", "Ship it", "--as", "bob").pipe(Effect.provide(rules))
      out.splice(0)

      yield* nerv("effects")
      assert.deepStrictEqual(out.splice(0), [
        "notify: performer registered, 1 pending, 0 performed, 0 dead, oldest pending 0s old",
        "webhook: performer MISSING, 2 pending, 0 performed, 0 dead, oldest pending 0s old"
      ])

      // Ten failed attempts (the default schedule), then the notification is a dead letter.
      for (let i = 0; i < 12; i++) {
        yield* run(Performers.drain)
        yield* TestClock.adjust("10 minutes")
      }
      yield* nerv("effects", "--json")
      const json = JSON.parse(out.splice(0).join("\n"))
      assert.deepStrictEqual(json.map((t: { type: string; dead: number }) => [t.type, t.dead]), [["notify", 1], [
        "webhook",
        0
      ]])

      yield* nerv("effects", "list")
      const [dead] = out.splice(0)
      assert.match(
        dead!,
        /^\S+:0 notify dead, 10 attempts, document .* v2: .*\(last error: could not notify ann: mail server down\)$/
      )

      yield* nerv("effects", "redrive")
      assert.strictEqual(process.exitCode, 2)
      assert.include(err.splice(0).join("\n"), "give either --all or the --id of each dead effect to re-drive")
      process.exitCode = 0

      down = false
      const deadId = dead!.split(" ")[0]!
      yield* nerv("effects", "redrive", "--id", deadId)
      assert.deepStrictEqual(out.splice(0), ["re-drove 1 dead effect: pending again, with no attempts counted"])
      yield* run(Performers.drain)
      yield* nerv("effects", "list", "--status", "performed", "--json")
      assert.deepStrictEqual(JSON.parse(out.splice(0).join("\n")).map((e: { id: string }) => e.id), [deadId])
    }))
})
