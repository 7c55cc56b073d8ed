#!/usr/bin/env node
/**
 * The `nerv` binary: the command line on the durable embedded default (`Nerv.layerSqlite`), on
 * the file `--database` names, else `$NERV_DATABASE`, else `.nerv/nerv.db`.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Cli from "./Cli.js"
import * as Ask from "./cli/Ask.js"
import * as Nerv from "./Nerv.js"

Cli.run(process.argv, (database) =>
  // The database first: on a first start it makes the master key that seals ask's model.
  Ask.layerBesideDatabase(Option.getOrUndefined(database)).pipe(
    Layer.provideMerge(Nerv.layerSqlite({ filename: Option.getOrUndefined(database) }))
  )).pipe(
    // The command line prints results, not the programs' log lines; warnings and errors still show.
    Logger.withMinimumLogLevel(LogLevel.Warning),
    Effect.provide(NodeContext.layer),
    NodeRuntime.runMain({ disableErrorReporting: false })
  )
