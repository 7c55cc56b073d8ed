#!/usr/bin/env node
/**
 * The `nerv` binary: the command line on the durable embedded default (`Nerv.layerSqlite`), on
 * the file `--database` names, else `$NERV_DATABASE`, else `.nerv/nerv.db` in the working
 * directory. It creates that file only under `nerv init` or `--create`. On PostgreSQL
 * (`Nerv.layerPostgres`) when `--database` or `$NERV_DATABASE_URL` is a `postgres://` URL.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Path from "node:path"
import * as Cli from "./Cli.js"
import * as Ask from "./cli/Ask.js"
import * as DatabaseFile from "./DatabaseFile.js"
import * as Nerv from "./Nerv.js"
import * as SecureIntents from "./security/SecureIntents.js"

Cli.run(process.argv, {
  open: (database, { create }) =>
    Nerv.isPostgresUrl(database)
      // On PostgreSQL, the local files (a generated master key, ask's model) are kept in .nerv.
      ? Ask.layerBesideDatabase(Path.resolve(".nerv", "nerv.db")).pipe(
        Layer.provideMerge(Nerv.layerPostgres({ url: database, permissions: SecureIntents.permissions }))
      )
      // The database first: on a first start it makes the master key that seals ask's model.
      : Ask.layerBesideDatabase(database).pipe(
        // The intent service is a host of the door: its permission is declared to the policy.
        Layer.provideMerge(Nerv.layerSqlite({ filename: database, create, permissions: SecureIntents.permissions }))
      ),
  readOnly: (database) =>
    Nerv.isPostgresUrl(database) ? Nerv.layerPostgresScan(database) : DatabaseFile.layerReadOnly(database)
}).pipe(
  Effect.provide(NodeContext.layer),
  // Cli.run reports every failure itself (and sets the exit status): nothing is left to report here.
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
