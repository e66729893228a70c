import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import type { CliIo } from '../../src/cli/io.ts';

const root = new URL('../../', import.meta.url).pathname;

function capture(cwd = root): { io: CliIo; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (text) => out.push(text), err: (text) => err.push(text), isTty: false, env: {}, cwd }, out, err };
}

const BROKEN = `apiVersion: revroll.dev/v1alpha1
kind: UpgradePolicy
metadata:
  name: broken
spec:
  revisions:
    from: 1-24-3
    to: 1-24-3
  waves:
    - name: one
      namespaces: {names: [a]}
      bake: 10
`;

describe('revroll lint', () => {
  it('prints one summary line per valid file and exits 0', async () => {
    const { io, out, err } = capture();
    const code = await runCli(['lint', 'policies/nightly.yaml', 'policies/tags.yaml'], io);
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(out).toEqual([
      'policies/nightly.yaml: ok (UpgradePolicy nightly-1-25: 1-24-3 -> 1-25-1, 3 waves, 5 gates, labels strategy)\n',
      'policies/tags.yaml: ok (UpgradePolicy prod-tags: 1-24-3 -> 1-25-1, 3 waves, 2 gates, tags strategy)\n',
    ]);
  });

  it('prints every problem as file:line:col path: message and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-lint-'));
    writeFileSync(join(dir, 'broken.yaml'), BROKEN);
    const { io, out, err } = capture(dir);
    const code = await runCli(['lint', 'broken.yaml', 'missing.yaml', join(root, 'policies/demo.yaml')], io);
    expect(code).toBe(2);
    expect(err).toEqual([
      'broken.yaml:12:13 spec.waves[0].bake: a duration needs a unit: write e.g. "10s" or "10m", not a bare number\n',
      'broken.yaml: invalid (1 problem)\n',
      'missing.yaml:1:1 cannot read policy file: no such file\n',
    ]);
    expect(out).toEqual([
      `${join(root, 'policies/demo.yaml')}: ok (UpgradePolicy demo: 1-24-3 -> 1-25-1, 3 waves, 2 gates, labels strategy)\n`,
    ]);
  });

  it('reports rule problems once the schema is satisfied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-lint-'));
    writeFileSync(join(dir, 'same.yaml'), BROKEN.replace('bake: 10', 'bake: 10s'));
    const { io, err } = capture(dir);
    expect(await runCli(['lint', 'same.yaml'], io)).toBe(2);
    expect(err[0]).toBe(
      'same.yaml:8:9 spec.revisions.to: "to" is the same revision as "from" (1-24-3): nothing to upgrade\n',
    );
  });

  it('works as a real subprocess through src/cli/main.ts', async () => {
    const run = promisify(execFile);
    const { stdout, stderr } = await run(
      process.execPath,
      ['src/cli/main.ts', 'lint', 'policies/demo.yaml', 'policies/minimal.yaml'],
      { cwd: root },
    );
    expect(stderr).toBe('');
    expect(stdout).toBe(
      'policies/demo.yaml: ok (UpgradePolicy demo: 1-24-3 -> 1-25-1, 3 waves, 2 gates, labels strategy)\n' +
        'policies/minimal.yaml: ok (UpgradePolicy minimal: auto -> 1-25-1, 1 wave, 1 gate, labels strategy)\n',
    );
    const failed = await run(process.execPath, ['src/cli/main.ts', 'lint', 'no-such-policy.yaml'], { cwd: root }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed).toMatchObject({
      code: 2,
      stderr: 'no-such-policy.yaml:1:1 cannot read policy file: no such file\n',
    });
  });
});

describe('bad input to the CLI (issue 12 item 10)', () => {
  const run = promisify(execFile);
  const revroll = async (args: string[]) => {
    try {
      const { stdout, stderr } = await run(join(root, 'node_modules/.bin/node'), ['src/cli/main.ts', ...args], {
        cwd: root,
        timeout: 10_000,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string; killed?: boolean };
      if (e.killed) throw new Error(`revroll ${args.join(' ')} hung`);
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('refuses a device, a FIFO and a directory at once, without reading them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-lint-'));
    execFileSync('mkfifo', [join(dir, 'pipe.yaml')]);
    const { io, err } = capture(dir);
    const code = await runCli(['lint', '/dev/zero', 'pipe.yaml', '/tmp'], io);
    expect(code).toBe(2);
    expect(err).toEqual([
      '/dev/zero:1:1 cannot read policy file: not a regular file (a device, FIFO or socket)\n',
      'pipe.yaml:1:1 cannot read policy file: not a regular file (a device, FIFO or socket)\n',
      '/tmp:1:1 cannot read policy file: is a directory, not a policy file\n',
    ]);
  });

  it('refuses a file over 1 MiB before parsing it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-lint-'));
    writeFileSync(join(dir, 'big.yaml'), `# ${'x'.repeat(1024 * 1024)}\n`);
    const { io, err } = capture(dir);
    expect(await runCli(['lint', 'big.yaml'], io)).toBe(2);
    expect(err).toEqual(['big.yaml:1:1 the file is 1048579 bytes; policies are limited to 1048576 bytes\n']);
  });

  it('caps the problems printed for one file and says how many more there are', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'revroll-lint-'));
    const waves = Array.from({ length: 80 }, (_, i) => `    - {name: w${i}, namespaces: {names: [a]}, bake: nope}`);
    writeFileSync(
      join(dir, 'many.yaml'),
      `apiVersion: revroll.dev/v1alpha1\nkind: UpgradePolicy\nmetadata: {name: many}\nspec:\n  revisions: {from: auto, to: 1-25-1}\n  waves:\n${waves.join('\n')}\n`,
    );
    const { io, err } = capture(dir);
    expect(await runCli(['lint', 'many.yaml'], io)).toBe(2);
    const problems = err.filter(
      (line) => line.startsWith('many.yaml:') && !line.includes('... and') && !line.includes(': invalid ('),
    );
    expect(problems.length).toBe(50);
    expect(err).toContain('many.yaml: ... and 30 more problem(s) not shown\n');
  });

  it('exits 2 with no command and with help for an unknown command, 0 for help asked for', async () => {
    const bare = await revroll([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Usage: revroll/);
    expect(bare.stderr).toMatch(/^error: no command given$/m);
    const unknown = await revroll(['help', 'nosuchcommand']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: unknown command 'nosuchcommand'$/m);
    expect((await revroll(['help', 'lint'])).code).toBe(0);
    expect((await revroll(['--help'])).code).toBe(0);
  });
});
