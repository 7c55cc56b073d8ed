/**
 * The time-travel inspector: a local web page over a NERV database, read as a principal under the
 * policy. It shows the events as they commit (Server-Sent Events resumable from the journal
 * position: a reconnect misses nothing), the documents with a search, a version slider that shows a
 * document as it was, the diff between two versions, the causal tree of a correlation id, and the
 * dispatcher's queue depths and dead letters (when the process runs one). A forgotten
 * (crypto-shredded) document shows its shape, never its content.
 *
 * ```ts
 * const running = yield* Inspector.serve({ principal: "ann" })
 * yield* Console.log(`open ${running.url}`)
 * ```
 *
 * It only reads, and every read goes through the one door (`Access`) as its principal: checked
 * against the policy (deny by default: a principal it does not name is refused) and audited. It listens on 127.0.0.1 unless told otherwise,
 * and answers only requests addressed to its own address (a page elsewhere cannot reach it through
 * a DNS name that points here). The page is plain TypeScript built into `dist/inspector/` at install
 * (`build.mjs`); nothing is fetched at run time. `nerv inspect` serves it from the command line.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Access } from "@nerv/core"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Assets from "./internal/inspectorAssets.js"
import * as InspectorHttp from "./internal/inspectorHttp.js"
import type * as Reads from "./internal/inspectorReads.js"

/**
 * @since 0.1.0
 */
export interface Options {
  /** Who the page reads as: every read is checked against the policy and audited under this name. */
  readonly principal: string
  /** The port (default `defaultPort`; 0 picks a free one). */
  readonly port?: number | undefined
  /** The address to listen on (default `127.0.0.1`: this machine only). */
  readonly host?: string | undefined
  /** How many past events a newly opened page starts with (default 50). */
  readonly backlog?: number | undefined
  /** How often the live feed looks for new entries when caught up, in milliseconds (default 100). */
  readonly pollInterval?: number | undefined
}

/**
 * The port `nerv inspect` listens on unless told otherwise.
 *
 * @since 0.1.0
 */
export const defaultPort = 4680

/**
 * The services the inspector reads with: the document services (their guard checks the policy and
 * writes the audit trail) and the data keys (`Nerv.layerSqlite` provides them). A `Dispatcher` in context
 * adds its figures and dead letters to the page.
 *
 * @since 0.1.0
 */
export type Services = Reads.Services

/**
 * The inspector could not start: its address is taken or not allowed, or its page is not built.
 *
 * @since 0.1.0
 */
export class InspectorUnavailable extends Data.TaggedError("InspectorUnavailable")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `the inspector could not start: ${this.reason}`
  }
}

/**
 * A running inspector.
 *
 * @since 0.1.0
 */
export interface Running {
  /** Where to open it, e.g. `http://127.0.0.1:4680/`. */
  readonly url: string
  readonly port: number
}

const hostInUrl = (host: string) => host.includes(":") ? `[${host}]` : host

/**
 * Serves the inspector until the scope closes.
 *
 * @since 0.1.0
 */
export const serve = (
  options: Options
): Effect.Effect<Running, InspectorUnavailable | Access.UnknownPrincipal, Scope.Scope | Services> =>
  Effect.gen(function*() {
    const principal = options.principal
    // Nobody reads as nobody: refused before anything listens (the policy refuses any other it does not name).
    if (principal.trim() === "") return yield* new Access.UnknownPrincipal({ principal, action: "Inspector.serve" })
    const assets = yield* Effect.mapError(Assets.load, (reason) => new InspectorUnavailable({ reason }))
    const host = options.host ?? "127.0.0.1"
    const server = yield* NodeHttpServer.make(() => Http.createServer(), {
      port: options.port ?? defaultPort,
      host
    }).pipe(
      Effect.mapError((error) =>
        new InspectorUnavailable({
          reason: `could not listen on ${host}:${options.port ?? defaultPort} (${
            error.cause instanceof Error ? error.cause.message : String(error.cause)
          }); choose another --port`,
          cause: error
        })
      )
    )
    const port = server.address._tag === "TcpAddress" ? server.address.port : (options.port ?? defaultPort)
    const hosts = new Set([`${hostInUrl(host)}:${port}`])
    if (host === "127.0.0.1" || host === "::1" || host === "localhost") {
      for (const name of ["127.0.0.1", "localhost", "[::1]"]) hosts.add(`${name}:${port}`)
    }
    yield* server.serve(InspectorHttp.app({
      principal,
      assets,
      hosts,
      backlog: options.backlog ?? 50,
      pollInterval: options.pollInterval ?? 100
    }))
    return { url: `http://${hostInUrl(host)}:${port}/`, port }
  })
