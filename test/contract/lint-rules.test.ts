/**
 * The lint rules enforce DESIGN section 2 and style rule 2 (issue 13 item 8): a scratch project
 * with the real eslint.config.js and one file per rule, each planting ONE forbidden import or
 * call, must fail lint naming that rule, file by file; the composition root and clean files of
 * each layer pass. The scratch project sits under .tmp/ so it resolves revroll's own
 * typescript-eslint, and is typed by its own tsconfig (the type-aware rules need one).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const eslintBin = join(root, 'node_modules', 'eslint', 'bin', 'eslint.js');

/** file -> [source, the one rule it must break (undefined: it must pass)]. */
const PLANTED: Record<string, [string, string | undefined]> = {
  'src/engine/reads-files.ts': [
    "import { readFileSync } from 'node:fs';\nexport const f = () => readFileSync('x');\n",
    'no-restricted-imports',
  ],
  'src/engine/bare-fs.ts': [
    "import { readFileSync } from 'fs';\nexport const f = () => readFileSync('x');\n",
    'no-restricted-imports',
  ],
  'src/policy/reads-host.ts': [
    "import { hostname } from 'node:os';\nexport const h = () => hostname();\n",
    'no-restricted-imports',
  ],
  'src/mesh/opens-sockets.ts': [
    "import { connect } from 'node:net';\nexport const c = () => connect(80, '127.0.0.1');\n",
    'no-restricted-imports',
  ],
  'src/engine/sleeps.ts': [
    "import { setTimeout } from 'node:timers/promises';\nexport const s = () => setTimeout(1);\n",
    'no-restricted-imports',
  ],
  'src/policy/logs.ts': ["import pino from 'pino';\nexport const log = pino();\n", 'no-restricted-imports'],
  'src/engine/reads-clock.ts': ['export const now = (): Date => new Date();\n', 'no-restricted-syntax'],
  'src/mesh/reads-timer.ts': ['export const t = (): number => performance.now();\n', 'no-restricted-properties'],
  'src/policy/rolls-dice.ts': ['export const r = (): number => Math.random();\n', 'no-restricted-properties'],
  'src/runner/uses-adapter.ts': [
    "import { runCommand } from '../adapters/exec/command.ts';\nexport const r = runCommand;\n",
    'no-restricted-imports',
  ],
  'src/runner/uses-axios.ts': ["import axios from 'axios';\nexport const a = axios;\n", 'no-restricted-imports'],
  'src/runner/uses-client-node.ts': [
    "import { KubeConfig } from '@kubernetes/client-node';\nexport const k = new KubeConfig();\n",
    'no-restricted-imports',
  ],
  'src/runner/uses-client-node-deep.ts': [
    "import { KubeConfig } from '@kubernetes/client-node/dist/config.js';\nexport const k = new KubeConfig();\n",
    'no-restricted-imports',
  ],
  'src/runner/reads-files.ts': [
    "import { readFile } from 'node:fs/promises';\nexport const f = () => readFile('x');\n",
    'no-restricted-imports',
  ],
  'src/runner/serves-http.ts': [
    "import { createServer } from 'node:http';\nexport const s = () => createServer();\n",
    'no-restricted-imports',
  ],
  'src/cli/commands/wires-adapter.ts': [
    "import { runCommand } from '../../adapters/exec/command.ts';\nexport const r = runCommand;\n",
    'no-restricted-imports',
  ],
  'src/runner/forgets-case.ts': [
    "export function f(x: 'a' | 'b'): number {\n  switch (x) {\n    case 'a':\n      return 1;\n  }\n  return 0;\n}\n",
    '@typescript-eslint/switch-exhaustiveness-check',
  ],
  'src/runner/drops-promise.ts': [
    'async function save(): Promise<void> {}\nexport function f(): void {\n  save();\n}\n',
    '@typescript-eslint/no-floating-promises',
  ],
  'src/runner/long-function.ts': [
    `export function long(): number {\n  let n = 0;\n${'  n += 1;\n'.repeat(125)}  return n;\n}\n`,
    'max-lines-per-function',
  ],
  // Allowed: the composition root builds adapters; a pure file that is given time; a runner file on ports.
  'src/runner/compose.ts': [
    "import { runCommand } from '../adapters/exec/command.ts';\nexport const r = runCommand;\n",
    undefined,
  ],
  'src/engine/given-time.ts': [
    'export const later = (now: Date): Date => new Date(now.getTime() + 1000);\n',
    undefined,
  ],
  'src/runner/on-ports.ts': [
    "import type { Clock } from '../ports/clock.ts';\nexport const at = (clock: Clock): Date => clock.now();\n",
    undefined,
  ],
  'src/ports/clock.ts': ['export type Clock = { now(): Date };\n', undefined],
};

type LintResult = { filePath: string; messages: { ruleId: string | null; message: string }[] };

let scratch: string;
let results: Map<string, LintResult['messages']>;

beforeAll(async () => {
  mkdirSync(join(root, '.tmp'), { recursive: true });
  scratch = mkdtempSync(join(root, '.tmp', 'lint-rules-'));
  copyFileSync(join(root, 'eslint.config.js'), join(scratch, 'eslint.config.js'));
  const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['src'] }));
  for (const [file, [source]] of Object.entries(PLANTED)) {
    mkdirSync(dirname(join(scratch, file)), { recursive: true });
    writeFileSync(join(scratch, file), source);
  }
  // eslint exits 1 when it finds problems: the JSON report is what counts.
  const { stdout } = await promisify(execFile)(process.execPath, [eslintBin, '--format', 'json', 'src'], {
    cwd: scratch,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string; stderr?: string }) => {
    if (!error.stdout) throw new Error(`eslint did not report: ${error.stderr ?? String(error)}`);
    return { stdout: error.stdout };
  });
  const report = JSON.parse(stdout) as LintResult[];
  results = new Map(report.map((r) => [relative(scratch, r.filePath), r.messages]));
}, 120_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('lint enforces the layers', () => {
  for (const [file, [, rule]] of Object.entries(PLANTED)) {
    it(rule ? `${file} fails with ${rule}` : `${file} passes`, () => {
      const messages = results.get(file);
      expect(messages, `eslint did not lint ${file}`).toBeDefined();
      if (rule === undefined) expect(messages).toEqual([]);
      else expect(messages?.map((m) => m.ruleId)).toEqual([rule]);
    });
  }
});
