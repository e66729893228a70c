import { describe, expect, it } from 'vitest';
import type { RunState, StepRecord } from '../engine/state.ts';
import { createProgress } from './progress.ts';
import type { CliIo } from './io.ts';

function io(isTty: boolean) {
  let out = '';
  const value: CliIo = { out: (t) => void (out += t), err: () => undefined, isTty, env: {}, cwd: '/' };
  return { value, text: () => out };
}

const state = {
  gates: {
    wave: 0,
    baseline: {},
    failures: {},
    consecutiveErrors: {},
    evaluations: 1,
    recent: [{ at: '', results: [{ check: 'errors', outcome: 'Pass', value: 0.002, message: '' }] }],
  },
} as unknown as RunState;
const running: StepRecord = {
  id: 'wave/one/bake',
  kind: 'bake',
  wave: 0,
  status: 'running',
  startedAt: '2026-11-22T02:00:00.000Z',
};
const done: StepRecord = {
  ...running,
  status: 'done',
  finishedAt: '2026-11-22T02:00:10.000Z',
  note: '2 evaluation(s), all enforced gates pass',
};

describe('createProgress', () => {
  it('prints one plain line per step change when not on a terminal', () => {
    const out = io(false);
    const progress = createProgress(out.value);
    progress.update(state, [running]);
    progress.update(state, [done]);
    progress.stop();
    expect(out.text()).toBe(
      '02:00:00  wave/one/bake                      running \n02:00:10  wave/one/bake                      done     2 evaluation(s), all enforced gates pass\n',
    );
  });

  it('on a terminal, shows the running step on a redrawn status line with the last gate values, then its final line', () => {
    const out = io(true);
    const progress = createProgress(out.value);
    progress.update(state, [running]);
    expect(out.text()).toMatch(/^ {2}\.\.\. wave\/one\/bake \(\d+s\) {2}errors=0\.002$/);
    progress.update(state, [done]);
    progress.stop();
    expect(out.text()).toMatch(/\r\x1b\[K02:00:10  wave\/one\/bake +done +2 evaluation/);
    expect(out.text()).not.toMatch(/running/);
  });
});
