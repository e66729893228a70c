/// <reference lib="dom" />
/**
 * The report page's script, run in the browser: draws each gate chart with uPlot from the data
 * inlined in the page, and on the live dashboard replaces the report with each new version the
 * server streams (Server-Sent Events). Inlined with `Function.prototype.toString`, so it must be
 * self-contained: no imports, no outer variables, plain DOM and the global `uPlot`.
 */

/** What the page carries for the script (`<script type="application/json" id="revroll-data">`). */
export type ClientData = {
  charts: ClientChart[];
  /** Set on the live dashboard: where the updates come from. */
  stream?: string;
};

export type ClientChart = {
  id: string;
  unit: 'ratio' | 'ms' | 'seconds' | 'per-second' | 'number';
  x: number[];
  series: { label: string; role: 'value' | 'baseline' | 'threshold' | 'evaluation'; points: (number | null)[] }[];
};

/** One streamed update: the report's `<main>` as HTML, its chart data and the page title. */
export type ClientUpdate = { title: string; main: string; data: ClientData };

type UPlotLike = { destroy(): void; setSize(size: { width: number; height: number }): void };
type UPlotConstructor = {
  new (
    options: unknown,
    data: unknown,
    target: HTMLElement,
  ): UPlotLike & {
    series: unknown[];
    data: unknown[][];
  };
  tzDate(date: Date, tz: string): Date;
};

export function reportClient(): void {
  const uPlot = (globalThis as unknown as { uPlot: UPlotConstructor }).uPlot;
  // Colours with at least 3:1 contrast against white (WCAG 1.4.11 for graphics); dashes tell
  // baseline and limits apart without colour.
  const styles: Record<string, { stroke: string; width: number; dash?: number[] }> = {
    value: { stroke: '#1f5fbf', width: 2 },
    baseline: { stroke: '#5c5c5c', width: 2, dash: [6, 4] },
    threshold: { stroke: '#b3261e', width: 1.5, dash: [2, 3] },
  };
  const markers: Record<string, string> = { 'Pass evaluations': '#146c2e', 'Fail evaluations': '#b3261e' };
  let charts: UPlotLike[] = [];

  function format(unit: ClientChart['unit'], v: number | null): string {
    if (v === null || v === undefined) return '';
    if (unit === 'ratio') return `${Number((v * 100).toPrecision(3))}%`;
    const text = String(Number(v.toPrecision(3)));
    return unit === 'ms' ? `${text} ms` : unit === 'seconds' ? `${text} s` : unit === 'per-second' ? `${text}/s` : text;
  }

  function draw(chart: ClientChart): UPlotLike | undefined {
    const target = document.getElementById(`${chart.id}-plot`);
    if (!target) return undefined;
    target.textContent = '';
    const width = Math.max(240, Math.floor(target.clientWidth || 600));
    const options = {
      width,
      height: 220,
      tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: '#1b1b1b', grid: { stroke: '#e3e3e3' } },
        {
          stroke: '#1b1b1b',
          grid: { stroke: '#e3e3e3' },
          size: 64,
          values: (_u: unknown, ticks: number[]) => ticks.map((t) => format(chart.unit, t)),
        },
      ],
      series: [
        {},
        ...chart.series.map((s) => {
          if (s.role === 'evaluation') {
            const colour = markers[s.label] ?? '#1b1b1b';
            return {
              label: s.label,
              stroke: colour,
              paths: () => null,
              points: { show: true, size: 9, stroke: colour, fill: colour },
            };
          }
          const style = styles[s.role] ?? styles.value;
          return { label: s.label, spanGaps: true, points: { show: false }, ...style };
        }),
      ],
    };
    const plot = new uPlot(options, [chart.x, ...chart.series.map((s) => s.points)], target);
    // What was drawn, for the browser tests and for anyone inspecting the page.
    const holder = document.getElementById(chart.id);
    holder?.setAttribute('data-series', String(plot.series.length - 1));
    holder?.setAttribute('data-points', String(plot.data[0]?.length ?? 0));
    return plot;
  }

  function drawAll(data: ClientData): void {
    for (const c of charts) c.destroy();
    charts = [];
    for (const chart of data.charts) {
      const plot = draw(chart);
      if (plot) charts.push(plot);
    }
  }

  function readData(): ClientData {
    const node = document.getElementById('revroll-data');
    return JSON.parse(node?.textContent ?? '{"charts":[]}') as ClientData;
  }

  let data = readData();
  drawAll(data);
  let resizeTimer: ReturnType<typeof setTimeout> | undefined;
  window.addEventListener('resize', () => {
    if (resizeTimer) clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => drawAll(data), 150);
  });
  // Charts are drawn at the screen's width; paper is narrower.
  window.addEventListener('beforeprint', () => drawAll(data));

  if (data.stream && typeof EventSource !== 'undefined') {
    const status = document.getElementById('live-status');
    const source = new EventSource(data.stream);
    source.addEventListener('report', (event) => {
      const update = JSON.parse((event as MessageEvent<string>).data) as ClientUpdate;
      const main = document.getElementById('main');
      if (!main) return;
      // Keep what the reader opened and where the keyboard focus was.
      const open = Array.from(document.querySelectorAll('details[open]'), (d) => d.id).filter((id) => id !== '');
      const focused = document.activeElement?.id;
      main.innerHTML = update.main;
      for (const id of open) document.getElementById(id)?.setAttribute('open', '');
      if (focused) document.getElementById(focused)?.focus();
      document.title = update.title;
      data = { ...update.data, stream: data.stream };
      drawAll(data);
      if (status) status.textContent = `Live: updated ${new Date().toISOString().slice(11, 19)} UTC`;
    });
    source.addEventListener('error', () => {
      if (status) status.textContent = 'Live: connection lost, retrying...';
    });
  }
}
