/**
 * Gate evaluations as the runner records them on RevrollGateEvaluation Events (annotation
 * `revroll.dev/gate-results`), so a report can chart a wave's whole bake after the run state
 * has kept only its last few evaluations. Pure: encoding and lenient decoding only.
 */
import { z } from 'zod';
import type { GateOutcome, GateResult } from '../engine/gates.ts';

/** Annotation on each RevrollGateEvaluation Event: the evaluation's results as JSON. */
export const GATE_RESULTS_ANNOTATION = 'revroll.dev/gate-results';
/** Annotation on each RevrollHeld Event: `{kind, reason, since, step}` of the hold as JSON. */
export const HOLD_ANNOTATION = 'revroll.dev/hold';

/** One evaluation of every check of a wave. */
export type GateEvaluation = {
  /** Index of the wave in the run's waves. */
  wave: number;
  /** 1-based evaluation number within the wave's bake. */
  evaluation: number;
  at: string;
  results: GateResult[];
};

/** Longest gate message kept in an annotation: the report shows it as the evaluation's note. */
const MESSAGE_MAX = 300;

/** JSON has no infinities: they travel as the strings `+Inf` and `-Inf` (NaN is already null in a GateResult). */
function encodeNumber(value: number | null | undefined): number | string | null | undefined {
  if (value === undefined || value === null) return value;
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? null : value > 0 ? '+Inf' : '-Inf';
}

export function encodeGateEvaluation(evaluation: GateEvaluation): string {
  return JSON.stringify({
    v: 1,
    wave: evaluation.wave,
    evaluation: evaluation.evaluation,
    at: evaluation.at,
    results: evaluation.results.map((r) => ({
      check: r.check,
      outcome: r.outcome,
      ...(r.value !== undefined ? { value: encodeNumber(r.value) } : {}),
      ...(r.baseline !== undefined ? { baseline: encodeNumber(r.baseline) } : {}),
      ...(r.traffic !== undefined ? { traffic: encodeNumber(r.traffic) } : {}),
      ...(r.shadow ? { shadow: true } : {}),
      message: r.message.length > MESSAGE_MAX ? `${r.message.slice(0, MESSAGE_MAX - 3)}...` : r.message,
    })),
  });
}

const NumberSchema = z
  .union([z.number(), z.literal('+Inf'), z.literal('-Inf'), z.null()])
  .transform((v) => (v === '+Inf' ? Number.POSITIVE_INFINITY : v === '-Inf' ? Number.NEGATIVE_INFINITY : v));

const OutcomeSchema = z.enum(['Pass', 'Fail', 'NoData', 'Error'] satisfies [GateOutcome, ...GateOutcome[]]);

const EvaluationSchema = z.object({
  v: z.literal(1),
  wave: z.number().int().min(0),
  evaluation: z.number().int().min(1),
  at: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a date'),
  results: z.array(
    z.object({
      check: z.string().min(1),
      outcome: OutcomeSchema,
      value: NumberSchema.optional(),
      baseline: NumberSchema.optional(),
      traffic: NumberSchema.optional(),
      shadow: z.boolean().optional(),
      message: z.string(),
    }),
  ),
});

/** The evaluation an annotation carries, or undefined when it is not one this version reads. */
export function decodeGateEvaluation(text: string): GateEvaluation | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = EvaluationSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { wave, evaluation, at, results } = parsed.data;
  return {
    wave,
    evaluation,
    at,
    results: results.map((r) => ({
      check: r.check,
      outcome: r.outcome,
      message: r.message,
      ...(r.value !== undefined ? { value: r.value } : {}),
      ...(r.baseline !== undefined ? { baseline: r.baseline } : {}),
      ...(r.traffic !== undefined ? { traffic: r.traffic } : {}),
      ...(r.shadow ? { shadow: true } : {}),
    })),
  };
}
