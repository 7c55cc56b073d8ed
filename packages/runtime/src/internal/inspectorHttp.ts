/**
 * The inspector's HTTP side: its routes, the live feed as Server-Sent Events, and how a refusal
 * becomes a status. Every answer reads through `inspectorReads` as the inspector's principal.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Journal } from "@nerv/core"
import { JournalSubscription } from "@nerv/store"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Assets } from "./inspectorAssets.js"
import * as Reads from "./inspectorReads.js"

/** How the app is set up. */
export interface Config {
  readonly principal: Reads.Principal
  readonly assets: Assets
  /** The `Host` headers it answers (its own address): anything else is refused (DNS rebinding). */
  readonly hosts: ReadonlySet<string>
  /** How many past events a new feed starts with (default 50). */
  readonly backlog: number
  /** How often the feed looks for new entries when caught up, in milliseconds. */
  readonly pollInterval: number
}

const securityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store"
}

const json = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status, headers: securityHeaders })

/** The status a refusal gets. */
const statusOf = (tag: string): number => {
  switch (tag) {
    case "InvalidInput":
      return 400
    case "PermissionDenied":
    case "UnknownPrincipal":
      return 403
    case "DocumentNotFound":
    case "VersionNotFound":
    case "NotYetCreated":
      return 404
    case "DocumentForgotten":
    case "VersionPruned":
      return 410
    case "AuditUnavailable":
    case "JournalBusy":
      return 503
    default:
      return 500
  }
}

class BadRequest {
  readonly _tag = "InvalidInput"
  constructor(readonly message: string) {}
}

const refusal = (error: unknown) => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Error"
  const message = error instanceof Error || error instanceof BadRequest ? error.message : String(error)
  return json({ error: tag, message }, statusOf(tag))
}

/** A whole number from a path segment or a query parameter. */
const wholeNumber = (name: string, text: string | null | undefined, min: number) => {
  const value = text === null || text === undefined || !/^\d{1,15}$/.test(text) ? Number.NaN : Number(text)
  return Number.isSafeInteger(value) && value >= min
    ? Effect.succeed(value)
    : Effect.fail(new BadRequest(`${name} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`))
}

const encoder = new TextEncoder()

/** The live feed: every entry after `after`, then each one as it commits; the event id is its position. */
const events = (config: Config, request: HttpServerRequest.HttpServerRequest, query: URLSearchParams) =>
  Effect.gen(function*() {
    // EventSource sends the last id it saw when it reconnects: the feed resumes right after it.
    const resumeFrom = request.headers["last-event-id"] ?? query.get("after")
    const asked = resumeFrom === undefined || resumeFrom === null
      ? undefined
      : yield* wholeNumber("the last event id", resumeFrom, 0)
    const head = yield* Reads.follow(config.principal, asked ?? 0)
    const after = asked ?? Math.max(0, head - config.backlog)
    const journal = yield* Journal.Journal
    const entries = JournalSubscription.fromPosition(journal, after, { pollInterval: config.pollInterval }).pipe(
      Stream.map((entry) =>
        encoder.encode(`id: ${entry.position}\nevent: entry\ndata: ${JSON.stringify(Reads.entryJson(entry))}\n\n`)
      ),
      // A failed read ends the feed with a word why; the browser reconnects from the last id it saw.
      Stream.catchAll((error) =>
        Stream.make(encoder.encode(`event: failure\ndata: ${JSON.stringify({ message: error.message })}\n\n`))
      )
    )
    const keepAlive = Stream.tick("15 seconds").pipe(Stream.map(() => encoder.encode(": keep-alive\n\n")))
    const body = Stream.concat(
      Stream.make(encoder.encode(`retry: 1000\n: after position ${after}\n\n`)),
      Stream.merge(entries, keepAlive, { haltStrategy: "left" })
    )
    return HttpServerResponse.stream(body, {
      contentType: "text/event-stream",
      headers: { ...securityHeaders, "x-accel-buffering": "no", connection: "keep-alive" }
    })
  })

type Route = (
  match: RegExpMatchArray,
  query: URLSearchParams,
  request: HttpServerRequest.HttpServerRequest
) => Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, Reads.Services | Journal.Journal>

const routes = (config: Config): ReadonlyArray<readonly [RegExp, Route]> => {
  const principal = config.principal
  const ok = (effect: Effect.Effect<unknown, unknown, Reads.Services>) => Effect.map(effect, (body) => json(body))
  return [
    [/^\/api\/whoami$/, () => Effect.succeed(json({ principal }))],
    [/^\/api\/documents$/, (_, query) =>
      Effect.flatMap(
        wholeNumber("limit", query.get("limit") ?? "100", 1),
        (limit) => ok(Reads.search(principal, { search: query.get("search") ?? "", limit: Math.min(limit, 1_000) }))
      )],
    [/^\/api\/documents\/([^/]+)$/, (match) => ok(Reads.document(principal, decodeURIComponent(match[1]!)))],
    [/^\/api\/documents\/([^/]+)\/versions\/([^/]+)$/, (match) =>
      Effect.flatMap(
        wholeNumber("the version", match[2], 1),
        (version) => ok(Reads.at(principal, decodeURIComponent(match[1]!), version))
      )],
    [/^\/api\/documents\/([^/]+)\/diff$/, (match, query) =>
      Effect.gen(function*() {
        const from = yield* wholeNumber("from", query.get("from"), 1)
        const to = yield* wholeNumber("to", query.get("to"), 1)
        return yield* ok(Reads.diff(principal, decodeURIComponent(match[1]!), from, to))
      })],
    [/^\/api\/trace\/([^/]+)$/, (match) => ok(Reads.trace(principal, decodeURIComponent(match[1]!)))],
    [/^\/api\/dispatcher$/, () => ok(Reads.dispatcher(principal))],
    [/^\/api\/events$/, (_, query, request) => events(config, request, query)]
  ]
}

/** The inspector as an HTTP app. */
export const app = (config: Config) => {
  const table = routes(config)
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!config.hosts.has(request.headers.host ?? "")) {
      return json({
        error: "WrongHost",
        message: `this inspector answers only requests addressed to ${[...config.hosts][0]}`
      }, 403)
    }
    if (request.method !== "GET") return json({ error: "MethodNotAllowed", message: "the inspector only reads" }, 405)
    const url = new URL(request.url, "http://inspector")
    const asset = config.assets.get(url.pathname)
    if (asset !== undefined) {
      return HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers: securityHeaders })
    }
    for (const [pattern, route] of table) {
      const match = url.pathname.match(pattern)
      if (match !== null) return yield* route(match, url.searchParams, request).pipe(Effect.catchAll(refusal))
    }
    return json({ error: "NotFound", message: `nothing is served at ${url.pathname}` }, 404)
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.zipRight(
        Effect.logError("the inspector met a bug", cause),
        Effect.succeed(json({ error: "Defect", message: "a bug in NERV: see the inspector's standard error" }, 500))
      )
    )
  )
}
