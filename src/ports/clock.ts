/**
 * The clock port: the runner and the daemon read time and wait only through it, so tests drive
 * weeks of nights with a fake clock (DESIGN style rule 2: pass time in).
 */
export type Clock = {
  now(): Date;
  /** Sleeps `ms`, ending early (rejecting with the abort reason) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
};
