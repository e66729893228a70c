// The package ships types, but its `exports` map has no `types` condition, so NodeNext
// resolution cannot see them. This restates the one export revroll uses.
declare module '@prometheus-io/lezer-promql' {
  import type { LRParser } from '@lezer/lr';

  /** The PromQL grammar (Prometheus 2.x line for 0.4x versions). */
  export const parser: LRParser;
}
