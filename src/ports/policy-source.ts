/**
 * The policy-source port: where the daemon's policies come from (a folder today; a Kubernetes
 * resource later). A source emits whole policy sets: the daemon reconciles its loops to each.
 */
import type { PolicyProblem } from '../errors.ts';
import type { Policy } from '../policy/types.ts';

/** A policy of the folder that runs. */
export type FolderPolicy = {
  name: string;
  file: string;
  policy: Policy;
  /** The file is invalid now: this is its last valid version. */
  stale: boolean;
};

/** One file of the folder, as the runs API shows it. */
export type FolderFile = {
  file: string;
  /** `metadata.name` of its policy, of its last valid version, or read from an invalid file when it can be. */
  name?: string;
  /** It defines a valid policy that runs under its name. */
  valid: boolean;
  /** It defines a valid policy whose name an earlier file already uses, so it is ignored. */
  duplicate: boolean;
  /** It is invalid but its last valid version keeps running. */
  stale: boolean;
  /** Every problem, located (`file:line:col path: message` with formatProblem). */
  problems: PolicyProblem[];
  warnings: PolicyProblem[];
};

export type PolicySet = {
  /** The policies to run, by name. */
  policies: ReadonlyMap<string, FolderPolicy>;
  /** Every file, in name order. */
  files: readonly FolderFile[];
  /** Files that do not run as they are: invalid ones and duplicates. */
  invalid: number;
};

/** Emits policy sets to the `onChange` it was built with. */
export type PolicySource = {
  /** Reads the source once (emitting the first set), then follows it. */
  start(): Promise<void>;
  /** Stops following and waits for a read in flight. */
  stop(): Promise<void>;
  /** Reads now (after the read in flight, if any); resolves once the set is emitted. */
  rescan(): Promise<void>;
  /** The last emitted set. */
  current(): PolicySet;
};

/** Builds a source that calls `onChange` with every new set. */
export type PolicySourceFactory = (onChange: (set: PolicySet) => void) => PolicySource;
