/**
 * Where run state lives between steps (a ConfigMap per policy in the cluster). The store treats
 * the state as an opaque JSON document; the runner owns its shape and validation.
 */

/** A stored document and the version to write it back with (optimistic concurrency). */
export type Stored = { document: Record<string, unknown>; version: string };

export interface StateStore {
  /** The policy's state, or undefined if there is none. */
  load(policy: string): Promise<Stored | undefined>;
  /**
   * Writes the state. With `version`, the write fails with StateConflictError if someone else
   * wrote in between; without, it creates the document (failing if it exists).
   */
  save(policy: string, document: Record<string, unknown>, version?: string): Promise<string>;
  /** Every stored policy state. */
  list(): Promise<{ policy: string; stored: Stored }[]>;
}

/** Someone else wrote the state since it was read. */
export class StateConflictError extends Error {}
