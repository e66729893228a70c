import { it } from 'vitest';
import { collectRevrollRequests } from '/work/main/test/shipping/revroll-requests.ts';
it('dump', async () => {
  const t0 = Date.now();
  const r = await collectRevrollRequests();
  const set = new Map<string, number>();
  for (const x of r) { const k = `${x.verb} ${x.group}/${x.resource} ${x.namespace ?? '*'}`; set.set(k, (set.get(k) ?? 0) + 1); }
  console.log([...set].sort().map(([k, v]) => `${k} ${v}`).join('\n'), Date.now() - t0);
});
