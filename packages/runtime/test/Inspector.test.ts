/**
 * The inspector over HTTP, as a browser or a script meets it: the live feed resumes from the last
 * position it delivered (nothing missed, nothing twice), and a principal the policy does not allow
 * is refused, audited, and shown nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Access, Documents } from "@nerv/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as Inspector from "../src/Inspector.js"
import * as Nerv from "../src/Nerv.js"
import * as AuditTrail from "../src/security/AuditTrail.js"
import * as DataKeys from "../src/security/DataKeys.js"
import * as Rbac from "../src/security/Rbac.js"

const layer = Layer.mergeAll(
  Nerv.layerTestWithPolicy(Rbac.layerPolicy({
    principals: { ann: ["author"], viewer: ["reader"], mallory: [] },
    roles: { reader: ["documents:read"], author: ["documents:read", "documents:write:own"] }
  })),
  DataKeys.layerDisabled
)

const create = (title: string) => Documents.create({ title, content: `${title}'s content` }).pipe(Access.as("ann"))

const serve = (principal: string) => Inspector.serve({ principal, port: 0, pollInterval: 20 })

interface Frame {
  readonly id: number
  readonly event: string
  readonly data: { readonly position: number; readonly summary: string }
}

/**
 * Opens the live feed and reads `count` entries, then disconnects, as a browser tab that is closed
 * (or loses its network) would.
 */
const readFeed = (url: string, count: number, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const response = await fetch(`${url}api/events`, { headers, signal: controller.signal })
    assert.strictEqual(response.status, 200)
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    const frames: Array<Frame> = []
    let buffer = ""
    while (frames.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const fields = new Map<string, string>()
        for (const line of block.split("\n")) {
          const colon = line.indexOf(": ")
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2))
        }
        if (fields.get("event") === "entry") {
          frames.push({ id: Number(fields.get("id")), event: "entry", data: JSON.parse(fields.get("data")!) })
        }
      }
    }
    controller.abort()
    return frames
  })

const get = (url: string, path: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}${path.replace(/^\//, "")}`, { headers })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  })

/** A request with any Host header (fetch will not send a forged one). */
const requestWithHost = (port: number, host: string, method = "GET") =>
  Effect.async<{ readonly status: number; readonly body: string }>((resume) => {
    const request = Http.request(
      { host: "127.0.0.1", port, path: "/api/documents", method, headers: { host } },
      (res) => {
        let body = ""
        res.on("data", (chunk) => (body += chunk))
        res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, body })))
      }
    )
    request.end()
  })

describe("Inspector over HTTP", () => {
  it.scopedLive("the live feed resumes after the Last-Event-ID it was given: a reconnect misses nothing", () =>
    Effect.gen(function*() {
      const { url } = yield* serve("viewer")
      for (const title of ["one", "two", "three"]) yield* create(title)

      const first = yield* readFeed(url, 3, { "last-event-id": "0" })
      assert.deepStrictEqual(first.map((f) => f.id), [1, 2, 3])
      assert.deepStrictEqual(first.map((f) => f.data.position), [1, 2, 3])
      assert.strictEqual(first[0]!.data.summary, "created \"one\"")

      // Disconnected: two more commit meanwhile.
      yield* create("four")
      yield* create("five")
      const resumed = yield* readFeed(url, 2, { "last-event-id": String(first.at(-1)!.id) })
      assert.deepStrictEqual(resumed.map((f) => f.id), [4, 5])

      // Connected and caught up: a commit arrives live, once.
      const live = yield* Effect.fork(readFeed(url, 1, { "last-event-id": "5" }))
      yield* Effect.sleep("100 millis")
      yield* create("six")
      const [sixth] = yield* live.await.pipe(Effect.flatten)
      assert.strictEqual(sixth!.id, 6)
      assert.strictEqual(sixth!.data.summary, "created \"six\"")

      // A new page (no id) starts with the recent past, up to the head.
      const fresh = yield* readFeed(url, 6)
      assert.deepStrictEqual(fresh.map((f) => f.id), [1, 2, 3, 4, 5, 6])

      const bad = yield* get(url, "/api/events", { "last-event-id": "yesterday" })
      assert.strictEqual(bad.status, 400)
      assert.match(String(bad.body.message), /last event id must be a whole number/)
    }).pipe(Effect.provide(layer)))

  it.scopedLive("a principal the policy does not let read is refused everything, and each refusal is audited", () =>
    Effect.gen(function*() {
      const id = yield* create("Plan")
      const { url } = yield* serve("mallory")
      for (const path of ["/api/documents", `/api/documents/${id}`, `/api/documents/${id}/versions/1`, "/api/events"]) {
        const refused = yield* get(url, path)
        assert.strictEqual(refused.status, 403, path)
        assert.strictEqual(refused.body.error, "PermissionDenied", path)
        assert.match(String(refused.body.message), /mallory .* needs the permission documents:read/, path)
        assert.notInclude(JSON.stringify(refused.body), "Plan's content")
      }
      const denied = yield* Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.read()).pipe(
        Effect.map((records) => records.filter((r) => r.principal === "mallory"))
      )
      assert.deepStrictEqual(denied.map((r) => [r.action, r.outcome]), [
        ["Inspector.search", "denied"],
        ["Documents.history", "denied"],
        ["Documents.at", "denied"],
        ["Inspector.follow", "denied"]
      ])
    }).pipe(Effect.provide(layer)))

  it.scopedLive("an empty principal does not start, an unknown one reads nothing; the allowed one reads", () =>
    Effect.gen(function*() {
      const empty = yield* serve("").pipe(Effect.flip)
      assert.strictEqual(empty._tag, "UnknownPrincipal")
      const stranger = yield* serve("stranger")
      const refused = yield* get(stranger.url, "/api/documents")
      assert.strictEqual(refused.status, 403)
      assert.strictEqual(refused.body.error, "UnknownPrincipal")

      const id = yield* create("Plan")
      const { url } = yield* serve("viewer")
      const found = yield* get(url, "/api/documents?search=pla")
      assert.strictEqual(found.status, 200)
      assert.deepStrictEqual((found.body.documents as Array<{ id: string }>).map((d) => d.id), [id])
      assert.isTrue(found.body.complete)
      // One search is one audited read (its attempt and outcome), however many pages it reads.
      const viewer = yield* Effect.flatMap(AuditTrail.AuditTrail, (trail) => trail.read()).pipe(
        Effect.map((records) => records.filter((r) => r.principal === "viewer").map((r) => [r.action, r.outcome]))
      )
      assert.deepStrictEqual(viewer, [["Inspector.search", "allowed"], ["Inspector.search", "succeeded"]])
    }).pipe(Effect.provide(layer)))

  it.scopedLive("answers only its own address, only reads, and names what it cannot find", () =>
    Effect.gen(function*() {
      const { port, url } = yield* serve("viewer")
      const rebound = yield* requestWithHost(port, "evil.example")
      assert.strictEqual(rebound.status, 403)
      assert.match(rebound.body, /answers only requests addressed to 127\.0\.0\.1/)
      assert.strictEqual((yield* requestWithHost(port, `localhost:${port}`)).status, 200)
      assert.strictEqual((yield* requestWithHost(port, `127.0.0.1:${port}`, "POST")).status, 405)

      const missing = yield* get(url, "/api/documents/00000000-0000-4000-8000-000000000009")
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(missing.body.error, "DocumentNotFound")
      const malformed = yield* get(url, "/api/documents/not-an-id")
      assert.strictEqual(malformed.status, 400)
      assert.strictEqual(malformed.body.error, "InvalidInput")
      assert.strictEqual((yield* get(url, "/api/nothing")).status, 404)
      assert.strictEqual((yield* get(url, "/api/dispatcher")).body, null)
    }).pipe(Effect.provide(layer)))
})
