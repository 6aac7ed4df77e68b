/**
 * Retry timing for deferred mail: exponential backoff between $minimal_backoff_time and
 * $maximal_backoff_time, and the queue lifetime after which mail is returned.
 */

export interface BackoffPolicy {
  minimal: number; // seconds
  maximal: number; // seconds
}

/**
 * Seconds until the next attempt after `attempts` failed ones: minimal, 2x, 4x, ... capped at
 * maximal. A little jitter (up to 10%) keeps a burst of messages deferred together from all
 * coming back in the same second.
 */
export function backoffDelay(
  policy: BackoffPolicy,
  attempts: number,
  random = Math.random,
): number {
  const min = Math.max(0, policy.minimal);
  const max = Math.max(min, policy.maximal);
  const exp = Math.min(30, Math.max(0, attempts - 1));
  const base = Math.min(max, min * 2 ** exp);
  return Math.min(max, base * (1 + 0.1 * random()));
}

/** True when a message that arrived at `arrival` (ms) has outlived its queue lifetime. */
export function isExpired(arrival: number, now: number, lifetimeSeconds: number): boolean {
  return now - arrival >= lifetimeSeconds * 1000;
}
