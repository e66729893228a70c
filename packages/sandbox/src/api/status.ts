/**
 * Kubernetes `Status` errors, shaped byte for byte like kube-apiserver's (reason, code, details
 * with the plural as `kind`), because kubectl prints `Error from server (<reason>): <message>`
 * and client-node callers parse `reason` out of the body.
 */
import { StoreError } from '../store.ts';
import { SelectorParseError } from '../selectors.ts';
import { errorBody, errorText, type FieldError } from './field-errors.ts';

export type StatusDetails = {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  /** `reason` and `field` are omitted when empty (omitempty in metav1.StatusCause). */
  causes?: { reason?: string; message: string; field?: string }[];
  retryAfterSeconds?: number;
};

/** ListMeta of a Status (the fresh continue token of an expired one). */
export type StatusMetadata = { continue?: string };

export type StatusBody = {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
};

/** An error the API answers with a Status body (and optional extra headers, e.g. Retry-After). */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  readonly headers: Record<string, string>;
  readonly metadata: StatusMetadata;

  constructor(
    code: number,
    reason: string,
    message: string,
    details?: StatusDetails,
    headers: Record<string, string> = {},
    metadata: StatusMetadata = {},
  ) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
    this.headers = headers;
    this.metadata = metadata;
  }
}

export function failureStatus(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
  metadata: StatusMetadata = {},
): StatusBody {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata, status: 'Failure', message, reason };
  if (details !== undefined) body.details = details;
  body.code = code;
  return body;
}

export function successStatus(details: StatusDetails): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}

export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);

export const methodNotAllowed = (method: string, resourceKey: string) =>
  new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, {
    kind: resourceKey,
    name: method,
  });

/** The upstream 415 body. The sandbox speaks JSON (and YAML) only. */
export const unsupportedMediaType = () => new ApiError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});

/** The generic "unknown resource in a known group-version" 404 (details are empty, as upstream). */
export const resourceNotFound = () =>
  new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});

/**
 * 422 Invalid, one cause per field error, as apimachinery's `errors.NewInvalid`: the message is
 * `<Kind>[.<group>] "<name>" is invalid: <err>` or `... is invalid: [err1, err2]` (identical
 * messages listed once), `details` carry the kind (not the resource) and the group.
 */
export function invalid(kind: string, group: string, name: string, errors: readonly FieldError[]): ApiError {
  const texts = [...new Set(errors.map(errorText))];
  const summary = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  const qualified = group ? `${kind}.${group}` : kind;
  return new ApiError(422, 'Invalid', `${qualified} "${name}" is invalid: ${summary}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: errorBody(e), field: e.field })),
  });
}

/** Maps anything thrown by a handler to an ApiError; `undefined` means an unexpected bug (500). */
export function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof StoreError) {
    if (error.reason === 'InternalError') {
      const cause = error.message.replace(/^Internal error occurred: /, '');
      return new ApiError(error.code, error.reason, error.message, { ...error.details, causes: [{ message: cause }] });
    }
    const details = Object.keys(error.details).length > 0 || error.reason !== 'Expired' ? error.details : undefined;
    return new ApiError(error.code, error.reason, error.message, details);
  }
  if (error instanceof SelectorParseError) return badRequest(error.message);
  return undefined;
}

export function internalError(error: unknown): ApiError {
  const text = error instanceof Error ? error.message : String(error);
  return new ApiError(500, 'InternalError', `Internal error occurred: ${text}`, {
    causes: [{ message: text }],
  });
}
