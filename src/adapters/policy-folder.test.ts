import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem } from '../errors.ts';
import { MAX_POLICY_BYTES } from '../policy/load.ts';
import { createLogger } from '../telemetry/logger.ts';
import { createPolicyFolder, type PolicyFolder, type PolicySet } from './policy-folder.ts';

function policy(name: string, bake = '10m'): string {
  return `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata:
  name: ${name}
spec:
  revisions: {from: 1-24-3, to: 1-25-1}
  waves:
    - name: all
      namespaces: {percent: 100}
      bake: ${bake}
`;
}

/** `nightly` with a wave percentage the schema refuses, on line 9. */
const BROKEN_NIGHTLY = policy('nightly').replace('percent: 100', 'percent: 250');

let dir: string;
let sets: PolicySet[];
let logs: { msg: string; file?: string }[];
let folder: PolicyFolder | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'revroll-folder-'));
  sets = [];
  logs = [];
});

afterEach(async () => {
  await folder?.stop();
  folder = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function open(options: { watch?: boolean; debounceMs?: number; dir?: string } = {}): PolicyFolder {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as never);
      done();
    },
  });
  folder = createPolicyFolder({
    dir: options.dir ?? dir,
    logger: createLogger({ level: 'info', destination }),
    onChange: (set) => sets.push(set),
    rescanMs: 0,
    watch: options.watch ?? false,
    ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
  });
  return folder;
}

const names = (set: PolicySet | undefined) => [...(set?.policies.keys() ?? [])];

describe('src/adapters/policy-folder', () => {
  it('emits valid policies and every invalid file with its located problems', async () => {
    writeFileSync(join(dir, 'a-nightly.yaml'), policy('nightly'));
    writeFileSync(join(dir, 'b-weekly.yml'), policy('weekly'));
    writeFileSync(join(dir, 'c-broken.yaml'), BROKEN_NIGHTLY.replace('name: nightly', 'name: broken'));
    writeFileSync(join(dir, 'd-again.yaml'), policy('nightly', '20m'));
    writeFileSync(join(dir, 'notes.txt'), 'not a policy');
    writeFileSync(join(dir, '.hidden.yaml'), policy('hidden'));
    mkdirSync(join(dir, 'folder.yaml'));
    await open().start();

    expect(sets).toHaveLength(1);
    const set = sets[0] as PolicySet;
    expect(names(set)).toEqual(['nightly', 'weekly']);
    expect(set.policies.get('nightly')).toMatchObject({ file: join(dir, 'a-nightly.yaml'), stale: false });
    expect(set.files.map((f) => [f.file.slice(dir.length + 1), f.name, f.valid, f.duplicate])).toEqual([
      ['a-nightly.yaml', 'nightly', true, false],
      ['b-weekly.yml', 'weekly', true, false],
      ['c-broken.yaml', 'broken', false, false],
      ['d-again.yaml', 'nightly', false, true],
    ]);
    expect(set.invalid).toBe(2);
    const [, , broken, again] = set.files;
    expect(broken?.problems.map(formatProblem).join('\n')).toMatch(
      /c-broken\.yaml:9:29 spec\.waves\[0\]\.namespaces\.percent: /,
    );
    expect(again?.problems.map(formatProblem)).toEqual([
      `${join(dir, 'd-again.yaml')}:1:1 metadata.name: policy nightly is already defined in ${join(dir, 'a-nightly.yaml')}; this file is ignored`,
    ]);
  });

  it('keeps running the last good copy of a file that turned invalid, until it is fixed', async () => {
    const file = join(dir, 'nightly.yaml');
    writeFileSync(file, policy('nightly'));
    const f = open();
    await f.start();
    const good = sets[0]?.policies.get('nightly')?.policy;

    writeFileSync(file, BROKEN_NIGHTLY);
    await f.rescan();
    writeFileSync(file, `${BROKEN_NIGHTLY}# still broken\n`);
    await f.rescan();
    const stale = f.current();
    expect(stale.policies.get('nightly')).toMatchObject({ stale: true });
    // Two broken edits in a row: still the version that was last valid, the very same object.
    expect(stale.policies.get('nightly')?.policy).toBe(good);
    expect(stale.files[0]).toMatchObject({ name: 'nightly', valid: false, stale: true });
    expect(stale.files[0]?.problems[0]?.path).toBe('spec.waves[0].namespaces.percent');
    expect(stale.invalid).toBe(1);
    expect(logs.filter((l) => l.msg === 'invalid policy')).toHaveLength(2);

    writeFileSync(file, policy('nightly', '30m'));
    await f.rescan();
    const fixed = f.current();
    expect(fixed.policies.get('nightly')).toMatchObject({ stale: false });
    expect(fixed.policies.get('nightly')?.policy.spec.waves[0]?.bake).toBe(30 * 60_000);
    expect(fixed.files[0]).toMatchObject({ valid: true, stale: false, problems: [] });
  });

  it('emits nothing and logs nothing again for an unchanged folder; a removed file leaves the set', async () => {
    writeFileSync(join(dir, 'nightly.yaml'), policy('nightly'));
    writeFileSync(join(dir, 'weekly.yaml'), policy('weekly'));
    const f = open();
    await f.start();
    await f.rescan();
    await f.rescan();
    expect(sets).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'policy loaded')).toHaveLength(2);

    unlinkSync(join(dir, 'weekly.yaml'));
    await f.rescan();
    expect(sets).toHaveLength(2);
    expect(names(sets[1])).toEqual(['nightly']);
    // The unchanged file keeps its policy object: the daemon sees no change to hand its loop.
    expect(sets[1]?.policies.get('nightly')?.policy).toBe(sets[0]?.policies.get('nightly')?.policy);
    expect(logs.map((l) => l.msg)).toContain('policy file removed');
  });

  it('reports files too big to load and files that cannot be read, once each', async () => {
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(MAX_POLICY_BYTES)}\n`);
    // A link to itself: stat fails with ELOOP (running as root, permissions cannot make a file unreadable).
    symlinkSync('loop.yaml', join(dir, 'loop.yaml'));
    const f = open();
    await f.start();
    await f.rescan();
    const [big, loop] = f.current().files;
    expect(big?.problems).toEqual([
      {
        path: '',
        rule: 'size',
        message: `the file is ${MAX_POLICY_BYTES + 3} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`,
        location: { file: join(dir, 'big.yaml'), line: 1, col: 1 },
      },
    ]);
    expect(loop?.problems[0]).toMatchObject({ rule: 'read', location: { file: join(dir, 'loop.yaml'), line: 1 } });
    expect(loop?.problems[0]?.message).toMatch(/^cannot read policy file: ELOOP/);
    expect(f.current().invalid).toBe(2);
    expect(sets).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'invalid policy')).toHaveLength(2);
  });

  it('an unreadable folder is an empty set and an error log, not a crash', async () => {
    await open({ dir: join(dir, 'missing') }).start();
    expect(sets).toEqual([{ policies: new Map(), files: [], invalid: 0 }]);
    expect(logs.map((l) => l.msg)).toEqual(['policy folder unreadable']);
  });

  it('follows a ConfigMap update (an atomic ..data swap) through the folder watch', async () => {
    const publish = (version: string, files: Record<string, string>) => {
      mkdirSync(join(dir, `..${version}`));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, `..${version}`, name), text);
      symlinkSync(`..${version}`, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    publish('v1', { 'nightly.yaml': policy('nightly') });
    symlinkSync(join('..data', 'nightly.yaml'), join(dir, 'nightly.yaml'));
    await open({ watch: true, debounceMs: 20 }).start();
    expect(sets.at(-1)?.policies.get('nightly')?.policy.spec.waves[0]?.bake).toBe(10 * 60_000);

    publish('v2', { 'nightly.yaml': policy('nightly', '40m') });
    const deadline = Date.now() + 10_000;
    while (sets.at(-1)?.policies.get('nightly')?.policy.spec.waves[0]?.bake !== 40 * 60_000) {
      if (Date.now() > deadline) throw new Error('the watch did not pick up the ..data swap within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(sets.at(-1)?.files).toHaveLength(1);
    expect(logs.map((l) => l.msg)).toContain('policy reloaded');
  });
});
