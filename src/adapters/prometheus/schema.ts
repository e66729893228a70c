/**
 * Shapes of Prometheus HTTP API answers (https://prometheus.io/docs/prometheus/latest/querying/api/),
 * checked with zod so that a proxy's HTML page or a truncated body is reported as malformed
 * instead of being read as "no data".
 */
import { z } from 'zod';

/** Prometheus writes sample values as strings, including "NaN", "+Inf" and "-Inf". */
export const SampleValueSchema = z
  .string()
  .refine((text) => parseSampleValue(text) !== undefined, { message: 'not a Prometheus sample value' })
  .transform((text) => parseSampleValue(text) as number);

/** `[unix seconds, "value"]`. */
export const SampleSchema = z.tuple([z.number(), SampleValueSchema]);

const LabelsSchema = z.record(z.string(), z.string());

export const VectorSchema = z.object({
  resultType: z.literal('vector'),
  result: z.array(z.object({ metric: LabelsSchema, value: SampleSchema })),
});

export const MatrixSchema = z.object({
  resultType: z.literal('matrix'),
  result: z.array(z.object({ metric: LabelsSchema, values: z.array(SampleSchema) })),
});

export const ScalarSchema = z.object({ resultType: z.literal('scalar'), result: SampleSchema });

export const StringResultSchema = z.object({
  resultType: z.literal('string'),
  result: z.tuple([z.number(), z.string()]),
});

export const QueryDataSchema = z.discriminatedUnion('resultType', [
  VectorSchema,
  MatrixSchema,
  ScalarSchema,
  StringResultSchema,
]);

/** What `/api/v1/query` and `/api/v1/query_range` return. */
export type QueryData = z.output<typeof QueryDataSchema>;

export const SuccessSchema = <T extends z.ZodType>(data: T) =>
  z.object({ status: z.literal('success'), data, warnings: z.array(z.string()).optional() });

/** The error envelope, also sent with 4xx/5xx statuses. */
export const ErrorEnvelopeSchema = z.object({
  status: z.literal('error'),
  errorType: z.string().optional(),
  error: z.string().optional(),
});

/** `/api/v1/series`: one label set per series. */
export const SeriesDataSchema = z.array(LabelsSchema);

/** Parses a Prometheus sample value. Go's strconv accepts `Inf`/`+Inf`/`-Inf`/`NaN` in any case. */
export function parseSampleValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (text.trim() === '' || text !== text.trim()) return undefined;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}
