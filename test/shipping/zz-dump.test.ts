import { it } from 'vitest';
import { collectRevrollRequests, _sandboxes } from './revroll-requests.ts';
it('dump', async () => {
  await collectRevrollRequests();
  const m = new Map<string, number>();
  for (const r of _sandboxes[0]!.api.requests) { const k = `${r.userAgent} ${r.verb} ${r.resource}`; m.set(k, (m.get(k) ?? 0) + 1); }
  console.log([...m].filter(([k]) => !k.startsWith('revroll ') || k.includes('watch')).map(([k, v]) => `${k} ${v}`).join('\n'));
});
