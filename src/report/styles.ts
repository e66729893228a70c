/**
 * The report's stylesheet: plain, readable at 360 px, printable. Text colours keep at least
 * 4.5:1 contrast on their backgrounds (WCAG 2.1 AA, checked with axe-core in the browser tests).
 */
export const REPORT_CSS = `
:root { color-scheme: light; --text: #1b1b1b; --muted: #4a4a4a; --line: #d0d0d0; --soft: #f4f5f7;
  --ok: #0f5c27; --ok-bg: #e3f3e7; --bad: #8c1d18; --bad-bg: #fbe9e7; --warn: #6b4a00; --warn-bg: #fff4d6;
  --info: #0b4a8f; --info-bg: #e6f0fb; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif;
  color: var(--text); background: #fff; }
a { color: var(--info); }
a:focus-visible, summary:focus-visible, [tabindex]:focus-visible { outline: 3px solid var(--info); outline-offset: 2px; }
.skip { position: absolute; left: -9999px; top: 0; background: #fff; padding: .5rem 1rem; z-index: 10; }
.skip:focus { left: .5rem; top: .5rem; }
header.top, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 1rem; }
header.top { padding-top: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.1rem; margin: 1.25rem 0 .5rem; }
h4 { font-size: 1rem; margin: 1rem 0 .25rem; }
p { margin: .4rem 0; }
.meta { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: .75rem; font-weight: 600; font-size: .85rem;
  border: 1px solid currentColor; white-space: nowrap; }
.s-promoted, .s-done, .s-Pass, .s-approved { color: var(--ok); background: var(--ok-bg); }
.s-rolled-back, .s-failed, .s-Fail, .s-rejected, .s-Error { color: var(--bad); background: var(--bad-bg); }
.s-held, .s-NoData, .s-expired, .s-running, .s-in-progress { color: var(--warn); background: var(--warn-bg); }
.s-pending, .s-skipped, .s-unknown { color: var(--muted); background: var(--soft); }
.outcome { border: 1px solid var(--line); border-left: 6px solid var(--muted); padding: .75rem 1rem; margin: 1rem 0;
  background: var(--soft); }
.outcome.o-promoted { border-left-color: var(--ok); }
.outcome.o-rolled-back, .outcome.o-failed { border-left-color: var(--bad); }
.outcome.o-held, .outcome.o-in-progress { border-left-color: var(--warn); }
.outcome p.summary { font-size: 1.1rem; font-weight: 600; overflow-wrap: anywhere; }
progress { width: 100%; max-width: 24rem; height: 1rem; }
ul.sources { margin: .5rem 0; padding-left: 1.25rem; color: var(--muted); }
ul.sources li.bad { color: var(--bad); }
.table-wrap { overflow-x: auto; max-width: 100%; margin: .5rem 0; }
.table-wrap:focus-visible { outline: 3px solid var(--info); }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.note { overflow-wrap: anywhere; min-width: 12rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.current td { background: var(--warn-bg); }
figure.gate { margin: 1rem 0 1.5rem; border: 1px solid var(--line); padding: .75rem; break-inside: avoid; }
figure.gate figcaption { margin-bottom: .5rem; }
figure.gate figcaption strong { overflow-wrap: anywhere; }
.plot { width: 100%; min-height: 220px; }
.legend { list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem;
  font-size: .85rem; }
.legend li::before { content: ""; display: inline-block; width: 1.5em; margin-right: .35em; vertical-align: middle;
  border-top: 3px solid var(--c); }
.legend li.dash::before { border-top-style: dashed; }
.legend li.dot::before { width: .7em; height: .7em; border: 0; border-radius: 50%; background: var(--c); }
.note-box { color: var(--muted); font-size: .9rem; }
details { margin: .5rem 0; }
summary { cursor: pointer; font-weight: 600; }
footer { color: var(--muted); font-size: .85rem; padding-bottom: 2rem; margin-top: 2rem; }
#live-status { font-size: .9rem; color: var(--muted); }
.runs td.phase { white-space: nowrap; }
@media (max-width: 600px) {
  body { font-size: 14px; }
  th, td { padding: .25rem .35rem; }
  td.note { min-width: 8rem; }
}
@media print {
  body { font-size: 11pt; }
  .skip, #live-status { display: none; }
  header.top, main, footer { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  figure.gate, tr { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  details > summary { list-style: none; }
  a { color: inherit; text-decoration: none; }
  .outcome, th, .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;
