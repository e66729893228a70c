/** The result as tables (stdout) and as a JSON document (bench/results/<date>-<size>.json). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult } from './harness.ts';
import { round } from './stats.ts';

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

const s = (ms: number) => `${round(ms / 1000, ms < 10_000 ? 2 : 1)} s`;

/** Markdown tables, also pasted into docs/performance.md. */
export function renderReport(result: BenchResult): string {
  const parts: string[] = [];
  const m = result.machine;
  parts.push(
    `revroll bench, size ${result.size}, ${result.date}: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, kubectl ${m.kubectl}, Prometheus ${m.prometheus}; revroll CLI from ${result.config.cliKind === 'build' ? 'compiled JavaScript' : 'TypeScript source'}`,
  );
  if (result.speed.length > 0) {
    parts.push(
      `\nSpeed: revroll (one wave, no gates, warm-up 0s, bake 0s, maxParallelRestarts ${result.config.maxParallelRestarts}) vs the manual procedure (kubectl label, rollout restart, rollout status per Deployment, namespace by namespace); start latency ${result.config.startLatencyMs} ms; medians of ${result.config.runs} run(s)`,
    );
    parts.push(
      table(
        [
          'namespaces x Deployments',
          'revroll (CLI wall)',
          'revroll wave',
          'manual',
          'manual per namespace',
          'manual / revroll',
          'manual measured how',
        ],
        result.speed.map((r) => [
          `${r.namespaces} x ${r.workloads}`,
          s(r.medians.revrollMs),
          s(r.medians.revrollWaveMs),
          s(r.medians.manualMs),
          `${Math.round(r.medians.manualPerNamespaceMs)} ms`,
          `${round(r.medians.ratio, 1)}x`,
          r.manualExtrapolated
            ? `EXTRAPOLATED from ${r.manual.map((x) => x.namespacesRun).join('/')} namespaces run for real`
            : 'run in full',
        ]),
      ),
    );
    parts.push('\nAPI requests of one revroll run (first run of each size; watches and Events apart)');
    parts.push(
      table(
        [
          'size',
          'setup (once)',
          'of which SSAR',
          'wave',
          'wave target',
          'met',
          'wave Events',
          'wave watches',
          'finish',
          'wave, largest',
        ],
        result.speed.map((r) => {
          const api = r.revroll[0]?.api;
          if (!api) return [`${r.namespaces} x ${r.workloads}`, '-', '-', '-', '-', '-', '-', '-', '-', '-'];
          return [
            `${r.namespaces} x ${r.workloads}`,
            api.setup.requests,
            api.accessReviews,
            api.waveBudgeted,
            api.waveTarget,
            api.meetsTarget ? 'yes' : 'NO',
            api.wave.events,
            api.wave.watches,
            api.finish.requests,
            api.dominant
              .filter((d) => d.key !== 'create events')
              .slice(0, 3)
              .map((d) => `${d.key} ${d.count}`)
              .join(', '),
          ];
        }),
      ),
    );
  }
  if (result.memory.length > 0) {
    const mib = (v: number) => `${Math.round(v)} MiB`;
    parts.push(
      '\nMemory (sandbox in its own process; peak RSS = VmHWM of the revroll process; targets: run 200 MiB at 2,000 x 10, 300 MiB at 5,000 x 10, plan 150 MiB)',
    );
    parts.push(
      table(
        ['size', 'command', 'wall', 'peak RSS', 'target', 'met'],
        result.memory.flatMap((mem) => {
          const size = `${mem.namespaces} x ${mem.workloads}`;
          const rows: (string | number)[][] = [];
          if (mem.plan)
            rows.push([
              size,
              'revroll plan -o json',
              s(mem.plan.wallMs),
              mib(mem.plan.peakRssMiB),
              mib(mem.plan.targetMiB),
              mem.plan.peakRssMiB <= mem.plan.targetMiB ? 'yes' : 'NO',
            ]);
          rows.push([
            size,
            `revroll run (${mem.run.outcome}; wave ${s(mem.run.waveMs)}; uninstall ${mem.run.uninstall.status})`,
            s(mem.run.wallMs),
            mib(mem.run.peakRssMiB),
            mib(mem.run.targetMiB),
            mem.run.peakRssMiB <= mem.run.targetMiB ? 'yes' : 'NO',
          ]);
          return rows;
        }),
      ),
    );
    parts.push(
      '\nState ConfigMap after the run (limit 1 MiB, target under 512 KiB) and the wave against its physical limit',
    );
    parts.push(
      table(
        [
          'size',
          'state (object)',
          'state (data)',
          'met',
          'one rollout',
          'batches (workloads / maxParallelRestarts)',
          'limit = rollout x batches',
          'wave / limit',
          'wave / one rollout',
        ],
        result.memory.map((mem) => [
          `${mem.namespaces} x ${mem.workloads}`,
          `${round(mem.state.objectBytes / 1024, 1)} KiB`,
          `${round(mem.state.dataBytes / 1024, 1)} KiB`,
          mem.state.objectBytes < mem.state.targetBytes ? 'yes' : 'NO',
          `${Math.round(mem.wave.rolloutMs)} ms`,
          mem.wave.batches,
          s(mem.wave.limitMs),
          `${round(mem.wave.ratio, 3)}`,
          `${round(mem.wave.ratioToOneRollout, 1)}x`,
        ]),
      ),
    );
  }
  if (result.startup) {
    const st = result.startup;
    parts.push(`\nStart-up (medians of ${st.help.runs.length} runs each, as the bin runs: shebang flags applied)`);
    parts.push(
      table(
        ['command', 'wall', 'peak RSS', 'target', 'met'],
        [st.help, st.lint].map((c) => [
          c.command,
          `${Math.round(c.medians.wallMs)} ms`,
          `${round(c.medians.peakRssMiB, 1)} MiB`,
          `${c.targets.wallMs} ms${c.targets.peakRssMiB !== undefined ? `, ${c.targets.peakRssMiB} MiB` : ''}`,
          c.meetsTarget ? 'yes' : 'NO',
        ]),
      ),
    );
  }
  if (result.serve) {
    const sv = result.serve;
    parts.push(
      `\nThe daemon idle (revroll serve, ${sv.policies} policies, ${round(sv.idleMs / 1000)} s, /metrics scraped every 5 s)`,
    );
    parts.push(
      table(
        ['policies', 'ready after', 'scrapes', 'peak RSS', 'target', 'met'],
        [
          [
            sv.policies,
            s(sv.readyAfterMs),
            sv.scrapes,
            `${Math.round(sv.peakRssMiB)} MiB`,
            `< ${sv.targetMiB} MiB`,
            sv.meetsTarget ? 'yes' : 'NO',
          ],
        ],
      ),
    );
  }
  if (result.detection) {
    const d = result.detection;
    parts.push(
      `\nDetection of a bad canary (30% proxy errors; scrape ${d.scrapeIntervalMs} ms, gate interval ${d.gateIntervalMs} ms; target ${d.targetMs} ms)`,
    );
    parts.push(
      table(
        ['run', 'warm-up end -> rollback decision', 'decision -> rollback done', 'all proxies back on old revision'],
        [
          ...d.runs.map((r, i) => [
            String(i + 1),
            `${r.detectionMs} ms`,
            `${r.restoreMs} ms`,
            r.restored ? 'yes' : 'NO',
          ]),
          [
            'median',
            `${d.medians.detectionMs} ms`,
            `${d.medians.restoreMs} ms`,
            d.meetsTarget ? 'target met' : 'target MISSED',
          ],
        ],
      ),
    );
  }
  return `${parts.join('\n')}\n`;
}

export function writeResult(result: BenchResult, directory: string): string {
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${result.date.slice(0, 10)}-${result.size}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
