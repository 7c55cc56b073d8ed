/**
 * The inspector in a real browser: Debian's Chromium, headless, driven by playwright-core (which
 * never downloads a browser). The page is opened first; then commits made through the API must
 * appear in it live, the slider must show version 1 as it was, the diff the change, a forgotten
 * document its shape and not its content, and the dispatcher its dead letter. The screenshot is
 * kept in test/artifacts/ (not committed).
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Browser, chromium, type Page } from "playwright-core"
import * as Dispatcher from "../src/Dispatcher.js"
import * as Inspector from "../src/Inspector.js"
import * as Nerv from "../src/Nerv.js"
import * as Admin from "../src/security/Admin.js"
import * as Rbac from "../src/security/Rbac.js"

const executablePath = "/usr/bin/chromium"
const artifacts = join(import.meta.dirname, "artifacts")

const policy = Rbac.layerPolicy({
  principals: { ann: ["author"], dana: ["dpo"], viewer: ["reader"] },
  roles: {
    reader: ["documents:read"],
    author: ["documents:read", "documents:write:own"],
    dpo: ["documents:read", "documents:forget"]
  }
})
const ann = Access.as("ann")
const dana = Access.as("dana")

/** The durable embedded default on a fresh file, with a dispatcher whose mailer always fails. */
const database = Layer.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "nerv-inspector-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ),
    (dir) =>
      Dispatcher.layer({ name: "inspector-browser", retry: Schedule.recurs(0) }).pipe(
        Layer.provideMerge(Layer.orDie(Nerv.layerSqlite({ filename: join(dir, "nerv.db"), policy })))
      )
  )
).pipe(
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map()))),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
)

const launch = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic"
      ]
    })
  ),
  (browser: Browser) => Effect.promise(() => browser.close())
)

const within = { timeout: 20_000 }
const text = (page: Page, selector: string) => Effect.promise(() => page.locator(selector).innerText(within))

describe("Inspector in a browser", () => {
  it.scopedLive(
    "shows commits live, a version as it was, a diff, a forgotten document's shape and a dead letter",
    () =>
      Effect.gen(function*() {
        assert.isTrue(
          existsSync(executablePath),
          `${executablePath} is missing: apt-get install chromium (.ci/run does)`
        )
        const dispatcher = yield* Dispatcher.Dispatcher
        yield* dispatcher.register("DocumentUpdated", () => Effect.fail("the mail server is on fire"), {
          name: "mailer"
        })
        const { url } = yield* Inspector.serve({ principal: "viewer", port: 0 })
        const browser = yield* launch
        const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1400, height: 1000 } }))
        const run = <A>(f: () => Promise<A>) => Effect.promise(f)

        yield* run(() => page.goto(url))
        yield* run(() => page.locator("#status[data-state=live]").waitFor(within))
        assert.strictEqual(yield* text(page, "#whoami"), "reading as viewer")

        // Commits through the API appear live.
        const id = yield* Documents.create({ title: "Launch plan", content: "first draft\nowner: ann" }).pipe(ann)
        yield* run(() => page.locator("#event-list li", { hasText: "created \"Launch plan\"" }).waitFor(within))
        yield* Documents.update(id, { content: "final text\nowner: ann" }).pipe(ann)
        yield* run(() => page.locator("#event-list li", { hasText: "DocumentUpdated v2" }).waitFor(within))

        // The search finds it; the slider shows version 1 as it was.
        yield* run(() => page.fill("#search", "launch"))
        yield* run(() => page.locator(`#document-list [data-id="${id}"]`).click(within))
        yield* run(() => page.locator("#version-content", { hasText: "final text" }).waitFor(within))
        assert.strictEqual(yield* text(page, "#doc-title"), "Launch plan")
        yield* run(() => page.locator("#version-slider").fill("1"))
        yield* run(() => page.locator("#version-content", { hasText: "first draft" }).waitFor(within))
        assert.strictEqual(yield* text(page, "#version-label"), "1 of 2")

        // The diff between version 1 and 2 shows the change, line by line.
        yield* run(() => page.click("#diff-show"))
        yield* run(() => page.locator("#diff-output .diff-line.removed").first().waitFor(within))
        assert.deepStrictEqual(yield* run(() => page.locator("#diff-output .diff-line.removed").allInnerTexts()), [
          "first draft"
        ])
        assert.deepStrictEqual(yield* run(() => page.locator("#diff-output .diff-line.added").allInnerTexts()), [
          "final text"
        ])
        assert.include(yield* text(page, "#diff-output"), "changed by ann")

        mkdirSync(artifacts, { recursive: true })
        yield* run(() => page.screenshot({ path: join(artifacts, "inspector-time-travel.png"), fullPage: true }))

        // The causal tree of the update's correlation.
        yield* run(() => page.locator("#event-list li", { hasText: "DocumentUpdated v2" }).getByText(/^trace /).click())
        yield* run(() =>
          page.locator("#trace-output li[data-position]", { hasText: "DocumentUpdated v2 by ann" }).waitFor(within)
        )

        // A forgotten document shows its shape, never its content, wherever the page showed it.
        const secret = yield* Documents.create({ title: "Secret memo", content: "the secret recipe" }).pipe(ann)
        yield* Documents.update(secret, { content: "the secret recipe, revised" }).pipe(ann)
        yield* run(() => page.locator("#event-list li", { hasText: "created \"Secret memo\"" }).waitFor(within))
        yield* Admin.forget(secret).pipe(dana)
        yield* run(() => page.fill("#search", secret))
        yield* run(() => page.locator(`#document-list [data-id="${secret}"]`).click(within))
        yield* run(() => page.locator("#forgotten-banner").waitFor({ state: "visible", ...within }))
        assert.isFalse(yield* run(() => page.locator("#time-travel").isVisible()))
        assert.deepStrictEqual(
          yield* run(() => page.locator("#versions tbody tr").allInnerTexts()).pipe(
            Effect.map((rows) => rows.map((row) => row.split("\t").filter((_, i) => i !== 2).join(" ")))
          ),
          ["1 DocumentCreated ann", "2 DocumentUpdated ann"]
        )
        const body = yield* text(page, "body")
        assert.notInclude(body, "secret recipe")
        assert.notInclude(body, "Secret memo")

        // The dispatcher: its mailer's queue and the dead letter it gave up on.
        yield* dispatcher.awaitIdle
        yield* run(() => page.click("#dispatcher-refresh"))
        yield* run(() => page.locator("#dead-letters tr", { hasText: "mailer" }).first().waitFor(within))
        assert.include(yield* text(page, "#handlers"), "mailer")
        assert.include(yield* text(page, "#dead-letters"), "the mail server is on fire")

        mkdirSync(artifacts, { recursive: true })
        const screenshot = join(artifacts, "inspector.png")
        yield* run(() => page.screenshot({ path: screenshot, fullPage: true }))
        assert.isAbove(statSync(screenshot).size, 10_000)
      }).pipe(Effect.provide(database)),
    { timeout: 120_000 }
  )
})
