/**
 * Policy types, all derived from the zod schema (never written by hand). `PolicyInput` is what
 * authors write; `Policy` is what the loader returns: defaults filled, durations in milliseconds,
 * wave selections as tagged unions, approvals resolved against `spec.approvals`.
 */
import type { z } from 'zod';
import type {
  ApprovalTimeoutActionSchema,
  GatePresetSchema,
  LabelSelectorSchema,
  PolicySchema,
  SecretRefSchema,
  ThresholdSchema,
  WorkloadKindSchema,
} from './schema.ts';

/** A policy as written in YAML. */
export type PolicyInput = z.input<typeof PolicySchema>;
/** A loaded, normalized policy. */
export type Policy = z.output<typeof PolicySchema>;
/** `spec` of a loaded policy. */
export type PolicySpec = Policy['spec'];
/** One wave, normalized. */
export type Wave = PolicySpec['waves'][number];
/** A wave's namespace selection: `{kind: 'names' | 'selector' | 'percent' | 'count', ...}`. */
export type WaveSelection = Wave['namespaces'];
/** A resolved approval point: `{required, timeout (ms), onTimeout}`. */
export type Approval = Wave['approval'];
/** What an expired approval means. */
export type ApprovalTimeoutAction = z.output<typeof ApprovalTimeoutActionSchema>;
/** Gate settings, normalized. */
export type Gates = PolicySpec['gates'];
/** One gate check, normalized (its `minTraffic` resolved). */
export type GateCheck = Gates['checks'][number];
/** A built-in gate query. */
export type GatePreset = z.output<typeof GatePresetSchema>;
/** A check's threshold. */
export type Threshold = z.output<typeof ThresholdSchema>;
/** A gateway to upgrade. */
export type Gateway = PolicySpec['gateways'][number];
/** Workload settings. */
export type Workloads = PolicySpec['workloads'];
/** A workload kind revroll restarts. */
export type WorkloadKind = z.output<typeof WorkloadKindSchema>;
/** The schedule, when present. */
export type Schedule = NonNullable<PolicySpec['schedule']>;
/** One maintenance window (with `startMinute`/`endMinute`). */
export type MaintenanceWindow = Schedule['windows'][number];
/** One freeze period (`from`/`to` as `YYYY-MM-DDTHH:MM` local times, `to` exclusive). */
export type Freeze = Schedule['freeze'][number];
/** Slack settings, when present. */
export type SlackSettings = NonNullable<PolicySpec['notify']['slack']>;
/** Prometheus settings, when present. */
export type PrometheusSettings = NonNullable<PolicySpec['prometheus']>;
/** A secret reference: `{env}` or `{file}`. */
export type SecretRef = z.output<typeof SecretRefSchema>;
/** A Kubernetes LabelSelector. */
export type LabelSelector = z.output<typeof LabelSelectorSchema>;
export type GatewayApi = PolicySpec['gatewayApi'];
