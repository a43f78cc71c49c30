import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * Nodes per test app in the `multinode` project (2): they share the project's
     * PostgreSQL server (a database per test file) and a Redis of their own (BUS=redis).
     * Not provided elsewhere: one node.
     */
    testNodes: number;
  }
}

/** Switches the test helpers to two nodes per test app; runs after postgres-setup.ts, which provides the database server. */
export default function setup(project: TestProject) {
  project.provide('testNodes', 2);
}
