/** One run per policy at a time: a lease held while running, renewed, released at the end. */
export interface Lock {
  /** Takes the lock if it is free or expired; true when held by `holder` afterwards. */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Extends the lock; false when it was lost to someone else. */
  renew(name: string, holder: string, ttlMs: number): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
  /** Who holds it now, if anyone (and until when). */
  holder(name: string): Promise<{ holder: string; expiresAt: Date } | undefined>;
}
