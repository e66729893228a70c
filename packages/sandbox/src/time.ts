/**
 * Kubernetes timestamps (RFC 3339 to the second, `2026-01-02T03:04:05Z`), as metav1.Time
 * serializes them. A wave writes thousands of objects within each second; the text of the last
 * second is kept, so most writes format nothing.
 */
let lastSecond = Number.NaN;
let lastText = '';

export function isoSeconds(time: Date | number): string {
  const ms = typeof time === 'number' ? time : time.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastText = new Date(second * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    lastSecond = second;
  }
  return lastText;
}
