/** The streams a command writes to; injected so tests can capture output without a subprocess. */
export type CliIo = {
  out: (text: string) => void;
  /** Resolves once what `out` wrote has left the process (a pipe's reader can be slower than we write). */
  drained?: () => Promise<void>;
  err: (text: string) => void;
  /** True when stdout is a terminal (live progress instead of plain lines). */
  isTty: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
};

/** The real process streams. */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    drained: () =>
      process.stdout.writableNeedDrain
        ? new Promise((resolve) => process.stdout.once('drain', () => resolve()))
        : Promise.resolve(),
    err: (text) => process.stderr.write(text),
    isTty: process.stdout.isTTY === true,
    env: process.env,
    cwd: process.cwd(),
  };
}
