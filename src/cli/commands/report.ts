/**
 * `revroll report <policy> [-o html|md|json] [--out FILE] [--run ID] [--policy-file FILE]`:
 * renders one run from its state ConfigMap, its Events and, when the policy is given and
 * Prometheus answers, range queries per gate and wave. HTML is one self-contained file.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.ts';
import type { ClusterPort } from '../../ports/cluster.ts';
import type { Policy, PrometheusSettings } from '../../policy/types.ts';
import { buildReport } from '../../report/build.ts';
import type { ReportModel } from '../../report/model.ts';
import { renderReportHtml } from '../../report/render-html.ts';
import { renderReportMarkdown } from '../../report/render-md.ts';
import { composeReportSources, connectCluster, loadReportAssets } from '../../runner/compose.ts';
import { collectReport } from '../../runner/report-data.ts';
import { ExitCode } from '../exit-codes.ts';
import type { CliIo } from '../io.ts';
import type { ClusterFlags } from '../program.ts';
import { VERSION } from '../program.ts';
import { loadPolicyFile } from '../policy-file.ts';

export type ReportFormat = 'html' | 'md' | 'json';

export type ReportFlags = ClusterFlags & { output: ReportFormat; out?: string; run?: string; policyFile?: string };

/** DNS-1123 label: what a policy name is (src/policy/schema.ts). */
const POLICY_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A Kubernetes label value: run IDs are looked up by label. */
const RUN_ID = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export async function reportCommand(policyName: string, flags: ReportFlags, io: CliIo): Promise<ExitCode> {
  if (!POLICY_NAME.test(policyName))
    throw new UsageError(`"${policyName}" is not a policy name (a DNS-1123 label such as "nightly")`);
  if (flags.run !== undefined && !RUN_ID.test(flags.run))
    throw new UsageError(`--run "${flags.run}" is not a run ID (run IDs look like 20250101-a1b2c3)`);
  let policy: Policy | undefined;
  if (flags.policyFile) {
    policy = (await loadPolicyFile(flags.policyFile, io.cwd)).policy;
    if (policy.metadata.name !== policyName)
      throw new UsageError(`${flags.policyFile} is policy ${policy.metadata.name}, not ${policyName}`);
  }
  const cluster = connectCluster({
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
    env: io.env,
  });
  const model = await produceReport({
    cluster,
    stateNamespace: flags.stateNamespace,
    policyName,
    ...(policy ? { policy } : {}),
    ...(flags.prometheusUrl ? { prometheusUrl: flags.prometheusUrl } : {}),
    ...(flags.run ? { runId: flags.run } : {}),
    env: io.env,
  });
  const text = await renderReport(model, flags.output);
  if (!flags.out) {
    io.out(text);
    return ExitCode.ok;
  }
  const file = resolve(io.cwd, flags.out);
  await writeFile(file, text).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' ? 'permission denied' : code;
    throw new UsageError(`cannot write the report to ${file}: ${why ?? String(error)}`);
  });
  io.out(
    `report of run ${model.runId} (${model.phase ?? 'from Events'}) written to ${file} (${Buffer.byteLength(text)} bytes)\n`,
  );
  return ExitCode.ok;
}

export type ProduceOptions = {
  cluster: ClusterPort;
  stateNamespace: string;
  policyName: string;
  policy?: Policy;
  prometheusUrl?: string;
  runId?: string;
  env: NodeJS.ProcessEnv;
  now?: () => Date;
};

/** Collects and builds the report model of a run (also used by `revroll demo`). */
export async function produceReport(options: ProduceOptions): Promise<ReportModel> {
  const settings = prometheusSettings(options.policy, options.prometheusUrl);
  const sources = composeReportSources({
    cluster: options.cluster,
    stateNamespace: options.stateNamespace,
    ...(options.policy ? { policy: options.policy } : {}),
    ...(settings ? { prometheus: settings } : {}),
    env: options.env,
    ...(options.now ? { now: options.now } : {}),
  });
  const input = await collectReport(sources, options.policyName, options.runId);
  return buildReport(input);
}

export async function renderReport(model: ReportModel, format: ReportFormat): Promise<string> {
  switch (format) {
    case 'html':
      return renderReportHtml(model, { assets: await loadReportAssets(), version: VERSION });
    case 'md':
      return renderReportMarkdown(model);
    case 'json':
      return `${JSON.stringify(model, null, 2)}\n`;
    default: {
      const unreachable: never = format;
      return unreachable;
    }
  }
}

function prometheusSettings(policy: Policy | undefined, url: string | undefined): PrometheusSettings | undefined {
  const base = policy?.spec.prometheus;
  if (url) {
    try {
      new URL(url);
    } catch {
      throw new UsageError(`--prometheus-url ${url} is not a URL`);
    }
    return { ...(base ?? { timeout: 10_000, tls: { insecureSkipVerify: false }, headers: {} }), url };
  }
  return base;
}
