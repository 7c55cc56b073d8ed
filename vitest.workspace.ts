/**
 * The test projects, one per workspace package. The root `vitest.config.ts`
 * imports this list as `test.projects`.
 */
export default [
  "packages/core",
  "packages/store",
  "packages/runtime",
  "examples"
]
