/**
 * Where run state lives between steps (a ConfigMap per policy in the cluster). The store treats
 * the state as an opaque JSON document; the runner owns its shape and validation.
 */

/** The state ConfigMap of a policy's runs (one per policy, in the state namespace). */
export function stateConfigMapName(policy: string): string {
  return `revroll-${policy}`;
}

/** Label on a run's state ConfigMap and on every Event of the run: the policy's name. */
export const POLICY_LABEL = 'revroll.dev/policy';
/** Label on every Event of a run: its run ID (`revroll report` lists a run's Events by it). */
export const RUN_ID_LABEL = 'revroll.dev/run-id';

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
