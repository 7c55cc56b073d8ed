import type { Suite } from "./harness.js"
import { suite as bus } from "./suites/bus.js"
import { cipher } from "./suites/cipher.js"
import { cliSuite } from "./suites/cli.js"
import { durable } from "./suites/durable.js"
import { intent } from "./suites/intent.js"
import { nats } from "./suites/nats.js"
import { processes } from "./suites/processes.js"

/** Every suite `pnpm bench` runs, in order. Add a suite by adding its module here. */
export const suites: ReadonlyArray<Suite> = [bus, durable, processes, cliSuite, cipher, intent, nats]
