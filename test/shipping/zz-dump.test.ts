import { it } from 'vitest';
import { collectRevrollRequests } from './revroll-requests.ts';
it('dump', async () => {
  const t0 = Date.now();
  const all = await collectRevrollRequests();
  const base = new Set<string>(); const un = new Set<string>();
  for (const sc of all) for (const x of sc.requests) (sc.uninstalls ? un : base).add(`${x.verb} ${x.group}/${x.resource} ${x.namespace === 'revroll-system' ? 'STATE' : x.namespace ? 'ns' : '*'}`);
  console.log('BASE\n' + [...base].sort().join('\n'));
  console.log('UNINSTALL ONLY\n' + [...un].filter((k) => !base.has(k)).sort().join('\n'));
  console.log(Date.now() - t0);
});
