/**
 * Runs an installer command (istioctl, helm) as an argv list, never through a shell, with a
 * timeout, capturing its output for the run report.
 */
import { execFile } from 'node:child_process';

export type CommandResult = {
  ok: boolean;
  exitCode: number | null;
  /** The last part of stdout and stderr, interleaved as received. */
  output: string;
  durationMs: number;
  /** Why it failed, in one sentence. */
  error?: string;
};

const MAX_OUTPUT = 8 * 1024;

export function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: string) => {
      output += chunk;
      if (output.length > MAX_OUTPUT * 2) output = output.slice(-MAX_OUTPUT);
    };
    const child = execFile(
      command,
      [...args],
      {
        timeout: options.timeoutMs,
        env: options.env ?? process.env,
        maxBuffer: 64 * 1024 * 1024,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error) => {
        const durationMs = Math.round(performance.now() - started);
        const tail = output.length > MAX_OUTPUT ? `...${output.slice(-MAX_OUTPUT)}` : output;
        if (!error) {
          resolve({ ok: true, exitCode: 0, output: tail, durationMs });
          return;
        }
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string; signal?: string };
        let reason: string;
        if (e.code === 'ENOENT') reason = `${command} was not found on PATH`;
        else if (e.killed && e.signal === 'SIGTERM')
          reason = `${command} did not finish within ${Math.round(options.timeoutMs / 1000)}s and was stopped`;
        else if (typeof e.code === 'number') reason = `${command} exited with code ${e.code}`;
        else reason = `${command} failed: ${e.message}`;
        resolve({
          ok: false,
          exitCode: typeof e.code === 'number' ? e.code : null,
          output: tail,
          durationMs,
          error: reason,
        });
      },
    );
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
  });
}
