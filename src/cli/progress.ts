/**
 * Progress output of `revroll run` and `revroll demo`: one plain line per finished step, and on
 * a terminal a live status line for the step in progress (elapsed time, gate values while baking).
 */
import { formatNumber } from '../engine/gates.ts';
import type { RunState, StepKind, StepRecord } from '../engine/state.ts';
import type { CliIo } from './io.ts';

export function progressLine(record: StepRecord): string {
  const at = (record.finishedAt ?? record.startedAt ?? new Date().toISOString()).slice(11, 19);
  return `${at}  ${record.id.padEnd(34)} ${record.status.padEnd(8)}${record.note ? ` ${record.note}` : ''}\n`;
}

export type Progress = {
  update(state: RunState, changed: StepRecord[]): void;
  stop(): void;
};

/** Plain lines everywhere; on a TTY, running steps are shown on one redrawn line instead of their own. */
export function createProgress(
  io: CliIo,
  options: { extra?: (state: RunState, record: StepRecord) => string[] } = {},
): Progress {
  let current: { id: string; kind: StepKind; since: number; detail: string } | undefined;
  let drawn = false;
  const clear = () => {
    if (drawn) io.out('\r\x1b[K');
    drawn = false;
  };
  const draw = () => {
    if (!current) return;
    clear();
    const seconds = Math.round((Date.now() - current.since) / 1000);
    io.out(`  ... ${current.id} (${seconds}s)${current.detail}`);
    drawn = true;
  };
  const timer = io.isTty ? setInterval(draw, 1000) : undefined;
  timer?.unref();
  return {
    update(state, changed) {
      for (const record of changed) {
        if (record.status === 'running' && io.isTty) {
          current = {
            id: record.id,
            kind: record.kind,
            since: Date.parse(record.startedAt ?? new Date().toISOString()),
            detail: '',
          };
          continue;
        }
        clear();
        io.out(progressLine(record));
        for (const line of options.extra?.(state, record) ?? []) io.out(`${line}\n`);
        if (current?.id === record.id) current = undefined;
      }
      if (current && io.isTty) {
        const last = state.gates?.recent.at(-1);
        current.detail =
          current.kind === 'bake' && last
            ? `  ${last.results.map((r) => `${r.check}=${r.value === undefined || r.value === null ? r.outcome : formatNumber(r.value)}`).join(' ')}`
            : state.hold
              ? `  held: ${state.hold.reason}`
              : '';
        draw();
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      clear();
    },
  };
}
