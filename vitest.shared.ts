import { defineProject } from "vitest/config"

/** The settings every package's test project shares. */
export const project = (name: string) =>
  defineProject({
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  })
