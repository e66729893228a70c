// ESLint flat config. The import-direction rules enforce DESIGN section 2:
// cli -> runner -> engine <- ports <- adapters; policy and engine stay pure. The engine may use
// the mesh layer's pure Istio knowledge (mesh talks to the cluster only through the port).
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

const enumSelector = {
  selector: 'TSEnumDeclaration',
  message: 'Use a string-literal union with a doc line per member, not an enum.',
};

const vendorIo = [
  { name: 'axios', message: 'I/O belongs in src/adapters.' },
  { name: '@kubernetes/client-node', message: 'I/O belongs in src/adapters/kubernetes.' },
  { name: 'node:process', message: 'No process access below src/runner: pass values in.' },
  { name: 'process', message: 'No process access below src/runner: pass values in.' },
  { name: 'node:fs', message: 'No file I/O in the pure core.' },
  { name: 'node:fs/promises', message: 'No file I/O in the pure core.' },
  { name: 'node:http', message: 'No network I/O in the pure core.' },
  { name: 'node:child_process', message: 'No subprocesses in the pure core.' },
];

// The pure core (engine, policy, mesh) reads no file, host, socket, timer or logger: those are
// the runner's, passed in through ports (DESIGN section 2 and style rule 2).
const pureCoreIo = [
  // (node:fs and node:fs/promises are in vendorIo.)
  ...['fs', 'fs/promises'].map((name) => ({
    name,
    message: 'No file I/O in the pure core: the runner reads files and passes data in.',
  })),
  ...['os', 'node:os'].map((name) => ({ name, message: 'No host access in the pure core: pass values in.' })),
  ...['net', 'node:net'].map((name) => ({ name, message: 'No sockets in the pure core: network I/O is an adapter.' })),
  ...['timers', 'node:timers', 'timers/promises', 'node:timers/promises'].map((name) => ({
    name,
    message: 'No timers in the pure core: decisions return a wake-up time and the runner sleeps (ports/clock.ts).',
  })),
  { name: 'pino', message: 'No logging in the pure core: return what happened; the runner logs it.' },
];

// src/runner talks to the world through ports only; src/runner/compose.ts is the one file that
// builds adapters (the composition root).
const runnerIo = [
  { name: 'axios', message: 'The runner uses ports; adapters are built in src/runner/compose.ts.' },
  {
    name: '@kubernetes/client-node',
    message: 'The runner uses the cluster port; the Kubernetes adapter is built in src/runner/compose.ts.',
  },
  ...['fs', 'node:fs', 'fs/promises', 'node:fs/promises'].map((name) => ({
    name,
    message: 'No file I/O in the runner: it is an adapter (built in src/runner/compose.ts).',
  })),
  ...['http', 'node:http'].map((name) => ({
    name,
    message: 'No HTTP server or client in the runner: it is an adapter (src/adapters/http-server).',
  })),
];

// Only `revroll sandbox` and `revroll demo` (src/cli) load the sandbox package.
const sandboxPackage = ['@revroll/sandbox', '@revroll/sandbox/prometheus'].map((name) => ({
  name,
  message: 'The sandbox is a development package, left out of the image: only src/cli/commands may load it.',
}));

const layer = (from, forbidden) => ({
  files: forbidden.files ?? [`src/${from}/**/*.ts`],
  ignores: ['**/*.test.ts', ...(forbidden.ignores ?? [])],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: [...(forbidden.paths ?? []), ...(forbidden.sandbox === false ? [] : sandboxPackage)],
        patterns: [
          ...(forbidden.dirs ?? []).map((dir) => ({
            group: [`**/${dir}/*`, `**/${dir}/**`],
            message: `src/${from} must not import from src/${dir} (DESIGN section 2).`,
          })),
          // A forbidden package is forbidden by its deep paths too (`@kubernetes/client-node/dist/...`).
          ...(forbidden.paths ?? [])
            .filter((p) => !p.name.startsWith('node:') && !builtinModules.includes(p.name))
            .map((p) => ({ group: [`${p.name}/**`], message: p.message })),
        ],
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'charts/', 'schema/', 'bench/results/', '.tmp/'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { ecmaVersion: 2023, sourceType: 'module' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', enumSelector],
    },
  },
  layer('policy', {
    paths: [...vendorIo, ...pureCoreIo],
    dirs: ['adapters', 'runner', 'cli', 'engine', 'mesh', 'sandbox', 'telemetry'],
  }),
  layer('engine', { paths: [...vendorIo, ...pureCoreIo], dirs: ['adapters', 'runner', 'cli', 'sandbox', 'telemetry'] }),
  layer('ports', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'mesh', 'sandbox'] }),
  layer('mesh', { paths: [...vendorIo, ...pureCoreIo], dirs: ['adapters', 'runner', 'cli', 'sandbox', 'engine'] }),
  // Reports are views: built from data handed in, rendered to text; the runner and the CLI fetch.
  layer('report', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'sandbox', 'telemetry'] }),
  layer('adapters', { dirs: ['runner', 'cli', 'engine', 'sandbox'] }),
  layer('runner', { paths: runnerIo, dirs: ['cli', 'sandbox', 'adapters'], ignores: ['src/runner/compose.ts'] }),
  // The composition root: the one runner file that builds adapters.
  layer('runner', { files: ['src/runner/compose.ts'], dirs: ['cli', 'sandbox'] }),
  // The CLI parses flags, handles signals and calls the composition root: it wires no adapter. It
  // may load the sandbox package (`revroll sandbox`, `revroll demo`).
  layer('cli', { dirs: ['adapters'], sandbox: false }),
  {
    // The process entry registers one module hook (the Kubernetes client loads without its
    // generated API clients) before any command, and so any adapter, loads: that file only.
    files: ['src/cli/main.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '/adapters/(?!kubernetes/module-hooks\\.ts$)',
              message: 'src/cli/main.ts imports only the module hooks of src/adapters (DESIGN section 2).',
            },
          ],
        },
      ],
    },
  },
  layer('lib', {
    paths: vendorIo,
    dirs: ['cli', 'runner', 'engine', 'mesh', 'adapters', 'sandbox', 'policy', 'ports', 'telemetry'],
  }),
  {
    // The sandbox is its own package: it imports nothing of revroll's (so it cannot share revroll's
    // misunderstandings), and revroll's shipped code never imports it (the image leaves it out).
    files: ['packages/sandbox/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/*', '../../*', '!../../src/*'],
              message: 'The sandbox package imports nothing of revroll (packages/sandbox/README.md).',
            },
          ],
        },
      ],
    },
  },
  {
    // The pure core must not read the clock or the environment: time is passed in.
    files: ['src/policy/**/*.ts', 'src/engine/**/*.ts', 'src/mesh/**/*.ts', 'src/report/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Pass configuration in; no env below src/runner.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Pass time in (DESIGN style rule 2).' },
        { object: 'performance', property: 'now', message: 'Pass time in (DESIGN style rule 2).' },
        { object: 'Math', property: 'random', message: 'No randomness in the pure core: pass values in.' },
      ],
    },
  },
  {
    // `new Date()` reads the clock: the engine, the policy language and the mesh layer get `now` passed in.
    files: ['src/policy/**/*.ts', 'src/engine/**/*.ts', 'src/mesh/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        enumSelector,
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'new Date() reads the clock: pass time in (DESIGN style rule 2).',
        },
      ],
    },
  },
  {
    // Type-aware rules over the shipped code: a new phase, outcome or action must be handled
    // everywhere (exhaustive switches), and no promise may be dropped unhandled.
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    // Functions read in one sitting (issue 13 item 9): split longer ones into named steps.
    files: ['src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
);
