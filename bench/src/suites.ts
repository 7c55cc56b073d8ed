import type { Suite } from "./harness.js"

/** Every suite `pnpm bench` runs, in order. Add a suite by adding its module here. */
export const suites: ReadonlyArray<Suite> = []
