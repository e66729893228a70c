/**
 * The daemon's policy folder: reads every `*.yaml`/`*.yml` file of a folder, keeps reading it as
 * it changes, and emits the resulting policy set: the policies to run, by name, and every file
 * with its problems, for the runs API.
 *
 * The folder is usually a mounted ConfigMap: its files are symlinks into `..data`, itself a
 * symlink to a timestamped directory, and an update swaps `..data` atomically. So the folder is
 * watched, not the files; watch events are debounced; a periodic rescan is the safety net for
 * missed events; dot-files (`..data`, `..2026_03_01...`) are never policies.
 *
 * Invariants:
 * - A file that turns invalid keeps running its last valid version (`stale`), so a typo pushed
 *   mid-run never stops a run; its problems are reported meanwhile.
 * - The first file (in name order) defining a name wins; a later valid file with the same name is
 *   reported as a problem and ignored.
 * - Scans never overlap: a change during a scan leads to one more scan after it.
 * - An unchanged file (same bytes, or the same size problem or read error) keeps its entry: it is
 *   neither parsed nor logged again.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { formatProblem, type PolicyProblem } from '../errors.ts';
import { loadPolicyText, MAX_ALIAS_COUNT, MAX_POLICY_BYTES } from '../policy/load.ts';
import type { Policy } from '../policy/types.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { FolderFile, FolderPolicy, PolicySet, PolicySource } from '../ports/policy-source.ts';

export type { FolderFile, FolderPolicy, PolicySet } from '../ports/policy-source.ts';

export type PolicyFolderOptions = {
  dir: string;
  logger: Logger;
  /** Called with the new set after the first scan and after every scan that changed something. */
  onChange: (set: PolicySet) => void;
  /** Real-time interval of the safety-net rescan (default 30 s); 0 disables it. */
  rescanMs?: number;
  /** Real-time debounce of watch events (default 200 ms). */
  debounceMs?: number;
  /** Watch the folder with fs.watch (default true). */
  watch?: boolean;
};

/** The policy folder is the daemon's policy source. */
export type PolicyFolder = PolicySource;

/** What a file's entry was made from: equal fingerprints mean nothing to re-read. */
type Fingerprint =
  | { kind: 'content'; sha256: string }
  | { kind: 'oversize'; size: number; mtimeMs: number }
  | { kind: 'unreadable'; code: string; message: string };

type FileEntry = {
  file: string;
  fingerprint: Fingerprint;
  policy?: Policy;
  problems: PolicyProblem[];
  warnings: PolicyProblem[];
  /** `metadata.name` of an invalid file, when it can be read. */
  name?: string;
  /** The last valid version of an invalid file: that version keeps running. */
  lastGood?: Policy;
};

const POLICY_FILE = /\.ya?ml$/i;
const EMPTY: PolicySet = { policies: new Map(), files: [], invalid: 0 };

export function createPolicyFolder(options: PolicyFolderOptions): PolicyFolder {
  const { dir, logger } = options;
  const files = new Map<string, FileEntry>();
  let set = EMPTY;
  let emitted = false;
  let stopped = false;
  let watcher: FSWatcher | undefined;
  let rescanTimer: NodeJS.Timeout | undefined;
  let debounceTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let scanAgain = false;

  /** Reads the folder; true when an entry was added, changed or removed. */
  async function scanOnce(): Promise<boolean> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => !n.startsWith('.') && POLICY_FILE.test(n)).sort();
    } catch (error) {
      logger.error({ dir, err: (error as Error).message }, 'policy folder unreadable');
      return false;
    }
    let changed = false;
    const seen = new Set<string>();
    for (const name of names) {
      const file = join(dir, name);
      const previous = files.get(file);
      const entry = await loadFile(file, previous);
      if (!entry) continue;
      seen.add(file);
      if (entry === previous) continue;
      changed = true;
      files.set(file, entry);
      logEntry(logger, entry, previous);
    }
    for (const file of [...files.keys()]) {
      if (seen.has(file)) continue;
      changed = true;
      files.delete(file);
      logger.info({ file }, 'policy file removed');
    }
    return changed;
  }

  function rescan(): Promise<void> {
    if (scanning) {
      scanAgain = true;
      return scanning;
    }
    scanning = (async () => {
      try {
        do {
          scanAgain = false;
          const changed = await scanOnce();
          if (changed || !emitted) {
            set = policySet([...files.values()]);
            emitted = true;
            options.onChange(set);
          }
        } while (scanAgain && !stopped);
      } finally {
        scanning = undefined;
      }
    })();
    return scanning;
  }

  function scheduleRescan(): void {
    if (stopped) return;
    if (debounceTimer) clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      debounceTimer = undefined;
      rescan().catch((error: unknown) => logger.error({ err: (error as Error).message }, 'policy rescan failed'));
    }, options.debounceMs ?? 200);
  }

  return {
    async start() {
      await rescan();
      if (options.watch !== false) {
        try {
          // The folder, not the files: ConfigMap mounts change by swapping the `..data` symlink.
          watcher = watch(dir, { persistent: false }, () => scheduleRescan());
          watcher.on('error', (error) =>
            logger.warn({ err: error.message }, 'policy folder watch failed; relying on rescans'),
          );
        } catch (error) {
          logger.warn({ err: (error as Error).message }, 'policy folder watch failed; relying on rescans');
        }
      }
      const every = options.rescanMs ?? 30_000;
      if (every > 0) {
        rescanTimer = setInterval(() => scheduleRescan(), every);
        rescanTimer.unref();
      }
    },
    async stop() {
      stopped = true;
      watcher?.close();
      if (rescanTimer) clearInterval(rescanTimer);
      if (debounceTimer) clearTimeout(debounceTimer);
      await scanning;
    },
    rescan,
    current: () => set,
  };
}

function logEntry(logger: Logger, entry: FileEntry, previous: FileEntry | undefined): void {
  if (entry.policy) {
    logger.info(
      { file: entry.file, policy: entry.policy.metadata.name, warnings: entry.warnings.map(formatProblem) },
      previous ? 'policy reloaded' : 'policy loaded',
    );
    return;
  }
  logger.error(
    { file: entry.file, problems: entry.problems.map(formatProblem), keeps: entry.lastGood?.metadata.name },
    'invalid policy',
  );
}

/** Reads one file; undefined when it is not a regular file (now). */
async function loadFile(file: string, previous: FileEntry | undefined): Promise<FileEntry | undefined> {
  let bytes: Buffer;
  try {
    const info = await stat(file);
    if (!info.isFile()) return undefined; // a directory named *.yaml, a dangling link mid-swap
    if (info.size > MAX_POLICY_BYTES) {
      const fingerprint: Fingerprint = { kind: 'oversize', size: info.size, mtimeMs: info.mtimeMs };
      const message = `the file is ${info.size} bytes; policies are limited to ${MAX_POLICY_BYTES} bytes`;
      return problemEntry(file, fingerprint, 'size', message, previous);
    }
    bytes = await readFile(file);
  } catch (error) {
    // Vanished between readdir and read (a ConfigMap symlink swap): the next scan sees the new state.
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'ENOENT') return undefined;
    const message = `cannot read policy file: ${(error as Error).message}`;
    return problemEntry(file, { kind: 'unreadable', code, message }, 'read', message, previous);
  }
  const fingerprint: Fingerprint = { kind: 'content', sha256: createHash('sha256').update(bytes).digest('hex') };
  if (previous && sameFingerprint(previous.fingerprint, fingerprint)) return previous;
  const text = bytes.toString('utf8');
  const loaded = loadPolicyText(text, file);
  if (loaded.policy) return { file, fingerprint, policy: loaded.policy, problems: [], warnings: loaded.warnings };
  const name = nameOf(text);
  return {
    file,
    fingerprint,
    problems: loaded.problems,
    warnings: loaded.warnings,
    ...(name ? { name } : {}),
    ...lastGoodOf(previous),
  };
}

/** A file that cannot be loaded at all: one problem on its first line. */
function problemEntry(
  file: string,
  fingerprint: Fingerprint,
  rule: string,
  message: string,
  previous: FileEntry | undefined,
): FileEntry {
  if (previous && sameFingerprint(previous.fingerprint, fingerprint)) return previous;
  const problem: PolicyProblem = { path: '', rule, message, location: { file, line: 1, col: 1 } };
  return { file, fingerprint, problems: [problem], warnings: [], ...lastGoodOf(previous) };
}

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  switch (a.kind) {
    case 'content':
      return b.kind === 'content' && a.sha256 === b.sha256;
    case 'oversize':
      return b.kind === 'oversize' && a.size === b.size && a.mtimeMs === b.mtimeMs;
    case 'unreadable':
      return b.kind === 'unreadable' && a.code === b.code && a.message === b.message;
  }
}

function lastGoodOf(previous: FileEntry | undefined): { lastGood?: Policy } {
  const good = previous?.policy ?? previous?.lastGood;
  return good ? { lastGood: good } : {};
}

/** The set the entries make: the first file (in name order) defining a name wins. */
function policySet(entries: readonly FileEntry[]): PolicySet {
  const sorted = [...entries].sort((a, b) => a.file.localeCompare(b.file));
  const policies = new Map<string, FolderPolicy>();
  for (const entry of sorted) {
    const policy = entry.policy ?? entry.lastGood;
    if (!policy || policies.has(policy.metadata.name)) continue;
    const name = policy.metadata.name;
    policies.set(name, { name, file: entry.file, policy, stale: !entry.policy });
  }
  const files = sorted.map((entry): FolderFile => {
    const name = (entry.policy ?? entry.lastGood)?.metadata.name ?? entry.name;
    const owner = entry.policy ? policies.get(entry.policy.metadata.name) : undefined;
    const duplicate = owner !== undefined && owner.file !== entry.file;
    const problems = duplicate
      ? [
          ...entry.problems,
          {
            path: 'metadata.name',
            rule: 'unique-name',
            message: `policy ${name} is already defined in ${owner.file}; this file is ignored`,
            location: { file: entry.file, line: 1, col: 1 },
          },
        ]
      : entry.problems;
    return {
      file: entry.file,
      ...(name ? { name } : {}),
      valid: entry.policy !== undefined && !duplicate,
      duplicate,
      stale: !entry.policy && entry.lastGood !== undefined,
      problems,
      warnings: entry.warnings,
    };
  });
  return { policies, files, invalid: files.filter((f) => !f.valid).length };
}

/** Best effort: the `metadata.name` of a document that does not load as a policy. */
function nameOf(text: string): string | undefined {
  try {
    const document = parse(text, { maxAliasCount: MAX_ALIAS_COUNT }) as { metadata?: { name?: unknown } } | undefined;
    const name = document?.metadata?.name;
    return typeof name === 'string' && name.length <= 253 ? name : undefined;
  } catch {
    return undefined;
  }
}
