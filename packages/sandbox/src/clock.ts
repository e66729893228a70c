/**
 * The sandbox's simulated clock. Simulated time runs `speed` times faster than real time, so a
 * scenario can say "pods take 2 s to start" and a test can run it at speed 20. Every timer the
 * simulation starts goes through here, which is what makes `close()` leak-free: it clears them all.
 */
export type Clock = {
  /** Simulated wall-clock time. */
  now(): Date;
  /** Simulated milliseconds since the clock started (monotonic). */
  elapsedMs(): number;
  readonly speed: number;
  /** Runs `fn` after `simMs` simulated milliseconds. Returns a cancel function. */
  after(simMs: number, fn: () => void): () => void;
  /** Runs `fn` every `simMs` simulated milliseconds. Returns a cancel function. */
  every(simMs: number, fn: () => void): () => void;
  /** Number of timers still pending (used to decide whether the simulation is idle). */
  pending(): number;
  /** Cancels every timer; later calls to `after`/`every` are ignored. */
  close(): void;
};

export function createClock(options: { speed?: number; start?: Date } = {}): Clock {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new Error(`clock speed must be > 0, got ${speed}`);
  const startWall = (options.start ?? new Date()).getTime();
  const startMono = performance.now();
  const timeouts = new Set<NodeJS.Timeout>();
  const intervals = new Set<NodeJS.Timeout>();
  let closed = false;

  const elapsedMs = () => (performance.now() - startMono) * speed;

  return {
    speed,
    now: () => new Date(startWall + elapsedMs()),
    elapsedMs,
    after(simMs, fn) {
      if (closed) return () => {};
      const handle = setTimeout(
        () => {
          timeouts.delete(handle);
          fn();
        },
        Math.max(0, simMs / speed),
      );
      // The simulation must never keep a process alive on its own (CLI and tests close it).
      handle.unref();
      timeouts.add(handle);
      return () => {
        clearTimeout(handle);
        timeouts.delete(handle);
      };
    },
    every(simMs, fn) {
      if (closed) return () => {};
      const handle = setInterval(fn, Math.max(1, simMs / speed));
      handle.unref();
      intervals.add(handle);
      return () => {
        clearInterval(handle);
        intervals.delete(handle);
      };
    },
    pending: () => timeouts.size,
    close() {
      closed = true;
      for (const handle of timeouts) clearTimeout(handle);
      for (const handle of intervals) clearInterval(handle);
      timeouts.clear();
      intervals.clear();
    },
  };
}
