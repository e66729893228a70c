/**
 * The image without Docker (no engine on the developers' machines or CI): the Dockerfile's
 * stages and runtime contents are checked by parsing it, and the runtime's premise, that the
 * built `dist/` runs with production dependencies only, is proven by running it from a folder
 * holding nothing else.
 *
 * That folder gets dist/, package.json, package-lock.json and the production subset of
 * node_modules: the lockfile's packages not marked `dev`, copied from the local install. This
 * is the set `npm ci --omit=dev` installs from the same lockfile (the Dockerfile's deps
 * stage), without needing the registry (the local npm cache does not hold every package).
 */
import { cliLaunch } from '../../bench/revroll-cli.ts';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
/** Node 24, from the `node` devDependency (the system node may be older). */
const node24 = join(root, 'node_modules/.bin/node');

type Instruction = { keyword: string; args: string };
type Stage = { from: string; name?: string; instructions: Instruction[] };

/** Dockerfile -> stages of instructions (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: match?.[1] ?? args, ...(match?.[2] ? { name: match[2] } : {}), instructions: [] });
    } else {
      stages[stages.length - 1]?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stages = parseDockerfile(text);
  const runtime = stages[stages.length - 1] as Stage;
  const of = (stage: Stage, keyword: string) =>
    stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
  const byName = (name: string) => stages.find((s) => s.name === name);

  it('builds in one stage and installs production dependencies in another, both on Node 24', () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    expect(stages.map((s) => s.from).every((from) => from === '${NODE_IMAGE}')).toBe(true);
    const build = byName('build');
    expect(build && of(build, 'RUN')).toEqual(
      expect.arrayContaining([expect.stringMatching(/npm ci\b/), 'npm run build']),
    );
    const deps = byName('deps');
    expect(deps && of(deps, 'RUN')).toEqual([expect.stringMatching(/npm ci --omit=dev --ignore-scripts/)]);
  });

  it('copies into the runtime only the compiled CLI, package.json and production node_modules', () => {
    expect(of(runtime, 'COPY')).toEqual([
      '--from=deps /app/node_modules ./node_modules',
      '--from=build /src/dist ./dist',
      'package.json ./',
    ]);
    expect(of(runtime, 'ADD')).toEqual([]);
  });

  it('runs `revroll serve` under tini, as a numeric non-root user, with HOME on the writable /tmp', () => {
    expect(of(runtime, 'USER')).toEqual(['65532:65532']);
    expect(of(runtime, 'RUN').join(' ')).toMatch(/apt-get install -y --no-install-recommends tini/);
    // The bin's shebang flags and environment, which the ENTRYPOINT bypasses, given again.
    const launch = cliLaunch(join(root, 'src/cli/main.ts'));
    expect(launch.flags.length).toBeGreaterThan(0);
    expect(JSON.parse(of(runtime, 'ENTRYPOINT')[0] ?? 'null')).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      ...launch.flags,
      '/app/dist/cli/main.js',
    ]);
    for (const [name, value] of Object.entries(launch.env))
      expect(of(runtime, 'ENV').join(' ')).toContain(`${name}=${value}`);
    expect(JSON.parse(of(runtime, 'CMD')[0] ?? 'null')).toEqual(['serve', '--policies', '/etc/revroll/policies']);
    expect(of(runtime, 'ENV').join(' ')).toMatch(/HOME=\/tmp/);
    expect(of(runtime, 'EXPOSE')).toEqual(['8080']);
  });

  it('carries the OCI labels', () => {
    const labels = of(runtime, 'LABEL').join(' ');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision', 'created'])
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string; version: string };
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
    expect(of(runtime, 'ARG')).toContain(`VERSION=${pkg.version}`);
  });

  it('keeps local state and everything the build does not need out of the context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(
      expect.arrayContaining(['.git', 'node_modules', 'dist', 'test', 'bench', 'coverage', 'charts']),
    );
    // ...but not what the build stage copies.
    for (const needed of [
      'src',
      'scripts',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
    ])
      expect(ignored).not.toContain(needed);
  });
});

describe('the built CLI with production dependencies only', () => {
  let app = '';

  beforeAll(() => {
    // The Dockerfile's build step, as it runs it.
    execFileSync('npm', ['run', 'build', '--silent'], {
      cwd: root,
      stdio: 'pipe',
      env: { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
    });
    app = mkdtempSync(join(tmpdir(), 'revroll-image-'));
    cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(app, file));
    copyProductionModules(root, app);
    writeFileSync(join(app, 'policy.yaml'), readFileSync(join(root, 'policies/minimal.yaml')));
  }, 120_000);

  afterAll(() => {
    if (app) rmSync(app, { recursive: true, force: true });
  });

  /** Runs the CLI from the folder, with a clean environment (no NODE_PATH, HOME elsewhere). */
  const revroll = (...args: string[]) =>
    execFileSync(node24, ['dist/cli/main.js', ...args], {
      cwd: app,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', HOME: join(app, 'home') },
    });

  it('holds no development-only dependency', () => {
    // Some devDependencies are also needed at run time by a production dependency (e.g.
    // @types/node via @kubernetes/client-node); the lockfile marks the others `dev`.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.keys(pkg.devDependencies).filter((name) => lock.packages[`node_modules/${name}`]?.dev);
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', 'eslint']));
    for (const name of devOnly) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
  });

  it('runs --help and serve --help', () => {
    expect(revroll('--help')).toMatch(/Usage: revroll/);
    expect(revroll('serve', '--help')).toMatch(/--policies <dir>/);
  });

  it('lints a policy', () => {
    expect(revroll('lint', 'policy.yaml')).toMatch(/policy\.yaml: ok/);
  });

  it('leaves the sandbox out, and says so when asked for it', () => {
    expect(existsSync(join(app, 'node_modules/@revroll/sandbox'))).toBe(false);
    let failure: { status: number; stderr: string } | undefined;
    try {
      revroll('sandbox');
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toMatch(/^error: the sandbox is not part of this installation/);
  });
});

/** Copies the lockfile's non-dev packages from `from`/node_modules to `to`/node_modules (nested node_modules copied as their own entries). */
function copyProductionModules(from: string, to: string): void {
  const lock = JSON.parse(readFileSync(join(from, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; optional?: boolean; link?: boolean }>;
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Workspace packages (the sandbox) are development tools, not part of the image.
    if (!path.startsWith('node_modules/') || entry.dev || entry.link) continue;
    const source = join(from, path);
    if (!existsSync(source)) {
      if (entry.optional) continue; // another platform's optional binary
      throw new Error(`${path} is a production dependency in package-lock.json but is not installed: run npm ci`);
    }
    const nested = `${source}${sep}node_modules`;
    cpSync(source, join(to, path), {
      recursive: true,
      filter: (src) => src !== nested && !src.startsWith(`${nested}${sep}`),
    });
  }
}
