import { ExitCode } from './exit-codes.ts';
import { InternalError, PolicyError, RevrollError, UsageError } from '../errors.ts';
import type { CliIo } from './io.ts';
import { problemLines } from './problem-lines.ts';

/**
 * The single error boundary: turns any error into one clear line on stderr and an exit code.
 * A stack trace is printed only with --debug.
 */
export function reportError(error: unknown, io: CliIo, debug: boolean): ExitCode {
  if (error instanceof PolicyError) {
    for (const line of problemLines(error.problems)) io.err(`${line}\n`);
    if (debug) io.err(`${error.stack ?? ''}\n`);
    return ExitCode.invalid;
  }
  if (error instanceof UsageError) {
    io.err(`error: ${error.message}\n`);
    return ExitCode.invalid;
  }
  if (error instanceof InternalError) {
    // A bug in revroll: the run's state was left as it was saved before the failing step.
    io.err(`error: ${error.message}\n`);
    io.err(debug ? `${describeCauses(error)}\n` : 'hint: this is a bug in revroll; rerun with --debug for details\n');
    return ExitCode.failure;
  }
  if (error instanceof RevrollError) {
    io.err(`error: ${error.message}\n`);
    if (debug) io.err(`${describeCauses(error)}\n`);
    return ExitCode.failure;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`unexpected error: ${firstLine(message)}\n`);
  if (debug) {
    io.err(`${error instanceof Error ? (error.stack ?? message) : message}\n`);
  } else {
    io.err('hint: rerun with --debug for details\n');
  }
  return ExitCode.failure;
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

function describeCauses(error: Error): string {
  const lines: string[] = [error.stack ?? error.message];
  let cause: unknown = error.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    lines.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return lines.join('\n');
}
