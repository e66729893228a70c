// ESLint flat config. The import-direction rules enforce DESIGN section 2:
// cli -> runner -> engine <- ports <- adapters; policy and engine stay pure. The engine may use
// the mesh layer's pure Istio knowledge (mesh talks to the cluster only through the port).
import tseslint from 'typescript-eslint';

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

// Only `revroll sandbox` and `revroll demo` (src/cli) load the sandbox package.
const sandboxPackage = ['@revroll/sandbox', '@revroll/sandbox/prometheus'].map((name) => ({
  name,
  message: 'The sandbox is a development package, left out of the image: only src/cli/commands may load it.',
}));

const layer = (from, forbidden) => ({
  files: [`src/${from}/**/*.ts`],
  ignores: ['**/*.test.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        paths: [...(forbidden.paths ?? []), ...sandboxPackage],
        patterns: (forbidden.dirs ?? []).map((dir) => ({
          group: [`**/${dir}/*`, `**/${dir}/**`],
          message: `src/${from} must not import from src/${dir} (DESIGN section 2).`,
        })),
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
      'no-restricted-syntax': [
        'error',
        {
          selector: 'TSEnumDeclaration',
          message: 'Use a string-literal union with a doc line per member, not an enum.',
        },
      ],
    },
  },
  layer('policy', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'engine', 'mesh', 'sandbox', 'telemetry'] }),
  layer('engine', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'sandbox', 'telemetry'] }),
  layer('ports', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'mesh', 'sandbox'] }),
  layer('mesh', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'sandbox', 'engine'] }),
  // Reports are views: built from data handed in, rendered to text; the runner and the CLI fetch.
  layer('report', { paths: vendorIo, dirs: ['adapters', 'runner', 'cli', 'sandbox', 'telemetry'] }),
  layer('adapters', { dirs: ['runner', 'cli', 'engine', 'sandbox'] }),
  layer('runner', { dirs: ['cli', 'sandbox'] }),
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
      ],
    },
  },
);
