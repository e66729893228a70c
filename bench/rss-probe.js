/**
 * Preloaded into a measured process (`node --import ./bench/rss-probe.js ...`): at exit it
 * writes the process's peak resident set (VmHWM from /proc/self/status) to $BENCH_RSS_FILE.
 * Reading it from inside is exact; polling from outside can miss a peak in the last instants
 * before exit, when /proc/<pid> is already gone. Plain JavaScript: a TypeScript preload would be
 * type-stripped first, which costs the measured process about 15 MB and 100 ms.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const target = process.env.BENCH_RSS_FILE;
if (target) {
  process.on('exit', () => {
    try {
      const status = readFileSync('/proc/self/status', 'utf8');
      const kib = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
      writeFileSync(target, JSON.stringify({ peakRssKiB: kib }));
    } catch {
      // Not on Linux: the caller falls back to its own polling.
    }
  });
}
