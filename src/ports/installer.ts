/**
 * The installer port: runs an installer command (istioctl, helm, or what the policy names) as
 * argv, no shell, within a timeout. It never throws for a failed command: `ok: false` with the
 * error and the output is what the install step reports.
 */
export type InstallerResult = { ok: boolean; output: string; error?: string; durationMs: number };

export type InstallerOptions = { timeoutMs: number; signal?: AbortSignal };

export type Installer = {
  run(command: string, args: readonly string[], options: InstallerOptions): Promise<InstallerResult>;
};
