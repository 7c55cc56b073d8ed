/**
 * The connection to NATS (`@nats-io/transport-node`) and its JetStream contexts, as a service that
 * lives as long as its layer: the transports of the dispatcher (`NatsDispatcher`) and of the
 * committed events (`NatsEvents`) share one connection per process.
 *
 * The client reconnects by itself (forever, by default): while it is away, publishing waits and
 * fails after its timeout, and consumers resume where the server has them.
 *
 * @since 0.1.0
 */
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

/**
 * A NATS or JetStream call failed: the server is unreachable, refused the request, or timed out.
 *
 * @since 0.1.0
 */
export class NatsError extends Data.TaggedError("NatsError")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    const reason = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `NATS: ${this.operation} failed: ${reason}`
  }
}

/**
 * Runs a promise-returning NATS call as an Effect that fails with `NatsError`.
 *
 * @since 0.1.0
 */
export const attempt = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, NatsError> =>
  Effect.tryPromise({ try: run, catch: (cause) => new NatsError({ operation, cause }) })

/**
 * @since 0.1.0
 */
export interface NatsClientService {
  readonly connection: NatsConnection
  readonly jetstream: JetStreamClient
  readonly manager: JetStreamManager
}

/**
 * The process's NATS connection.
 *
 * @since 0.1.0
 */
export class NatsClient extends Context.Tag("@nerv/runtime/NatsClient")<NatsClient, NatsClientService>() {}

/**
 * @since 0.1.0
 */
export interface Options {
  /** One URL or several (`nats://host:4222`), tried in turn. */
  readonly servers: string | ReadonlyArray<string>
  /** The connection's name, as the server's monitoring shows it. */
  readonly name?: string | undefined
}

/**
 * Connects, and on release waits for what was published to be flushed, then closes.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<NatsClientService, NatsError, Scope.Scope> =>
  Effect.acquireRelease(
    attempt("connect", async () => {
      const connection = await connect({
        servers: typeof options.servers === "string" ? options.servers : [...options.servers],
        name: options.name ?? "nerv",
        maxReconnectAttempts: -1
      })
      const manager = await jetstreamManager(connection)
      return { connection, manager, jetstream: jetstream(connection) }
    }),
    ({ connection }) => Effect.promise(() => connection.drain().catch(() => connection.close()))
  )

/**
 * The connection as a layer.
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<NatsClient, NatsError> => Layer.scoped(NatsClient, make(options))

/**
 * Where NATS is: `NERV_NATS_URL` (comma-separated for several servers).
 *
 * @since 0.1.0
 */
export const url: Config.Config<string> = Config.string("NERV_NATS_URL")

/**
 * The connection to the servers `NERV_NATS_URL` names.
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<NatsClient, NatsError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(url, (servers) => layer({ servers: servers.split(",").map((server) => server.trim()) }))
)
