/**
 * Retry with exponential backoff and full jitter, within a budget of attempts and time.
 * Shared by the Kubernetes and Prometheus adapters.
 */

export type RetryPolicy = {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** First backoff; doubles each retry. */
  baseDelayMs: number;
  /** Cap on one backoff. */
  maxDelayMs: number;
  /** Cap on the time spent in retries for one call. */
  budgetMs: number;
};

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  budgetMs: 60_000,
};

/** What a failed attempt says about retrying. */
export type AttemptVerdict = { retry: false } | { retry: true; afterMs?: number };

export type RetryHooks = {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
  signal?: AbortSignal;
};

/** Sleeps `ms`, ending early (with the abort reason) if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, `classify` says the error is final, or the budget is spent;
 * then rethrows the last error.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  classify: (error: unknown) => AttemptVerdict,
  hooks: RetryHooks = {},
): Promise<T> {
  const wait = hooks.sleep ?? sleep;
  const random = hooks.random ?? Math.random;
  const now = hooks.now ?? (() => performance.now());
  const started = now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const verdict = classify(error);
      if (!verdict.retry || n >= policy.maxAttempts) throw error;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      const delay = Math.max(verdict.afterMs ?? 0, Math.round(random() * backoff));
      if (now() - started + delay > policy.budgetMs) throw error;
      await wait(delay, hooks.signal);
    }
  }
}
