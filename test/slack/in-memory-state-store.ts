/**
 * A test double of the StateStore port, for the Slack approval tests only: the real ConfigMap
 * store is tested against the sandbox elsewhere. It implements the port faithfully (documents
 * are copied in and out, every write bumps the version, a stale or missing version is a
 * StateConflictError) and can inject a concurrent write to exercise conflict retries.
 */
import { StateConflictError, type StateStore, type Stored } from '../../src/ports/state-store.ts';

export type InMemoryStateStoreDouble = StateStore & {
  /** The stored document, copied (for assertions). */
  peek(policy: string): Stored | undefined;
  /** Before the next `count` saves, someone else writes first (the save then conflicts). */
  interfere(count: number, change?: (document: Record<string, unknown>) => void): void;
  /** Number of successful writes. */
  readonly writes: number;
};

export function createInMemoryStateStoreDouble(
  initial: Record<string, Record<string, unknown>> = {},
): InMemoryStateStoreDouble {
  const documents = new Map<string, Stored>();
  let counter = 0;
  let writes = 0;
  let interferences = 0;
  let interference: ((document: Record<string, unknown>) => void) | undefined;
  const nextVersion = () => String(++counter);
  for (const [policy, document] of Object.entries(initial))
    documents.set(policy, { document: structuredClone(document), version: nextVersion() });

  return {
    get writes() {
      return writes;
    },
    async load(policy) {
      const stored = documents.get(policy);
      return stored ? structuredClone(stored) : undefined;
    },
    async save(policy, document, version) {
      const current = documents.get(policy);
      if (interferences > 0 && current) {
        interferences -= 1;
        const changed = structuredClone(current.document);
        interference?.(changed);
        documents.set(policy, { document: changed, version: nextVersion() });
      }
      const now = documents.get(policy);
      if (version === undefined ? now !== undefined : now?.version !== version) {
        throw new StateConflictError(`state of ${policy} changed since version ${version ?? '(new)'}`);
      }
      const stored = { document: structuredClone(document), version: nextVersion() };
      documents.set(policy, stored);
      writes += 1;
      return stored.version;
    },
    async list() {
      return [...documents.entries()].map(([policy, stored]) => ({ policy, stored: structuredClone(stored) }));
    },
    peek(policy) {
      const stored = documents.get(policy);
      return stored ? structuredClone(stored) : undefined;
    },
    interfere(count, change) {
      interferences = count;
      interference = change;
    },
  };
}
