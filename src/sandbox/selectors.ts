/** Label selectors, shared with the rest of revroll (see src/lib/label-selector.ts). */
export * from '../lib/label-selector.ts';
