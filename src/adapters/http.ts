/**
 * The one axios factory of revroll's HTTP adapters (Prometheus, Slack): a timeout on every
 * request, a `revroll/<version>` user agent, TLS options, and errors that carry no secrets.
 *
 * axios errors hold the request config, headers included, so logging one leaks the
 * Authorization header. Every failure is therefore converted into an HttpError that keeps only
 * what is needed (status, body, a classification) with every known secret redacted, and the
 * axios error is not kept as `cause`.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosError, type AxiosInstance } from 'axios';
import { ExternalError } from '../errors.ts';

/** Why a request failed. */
export type HttpFailureKind =
  /** No connection (refused, reset, DNS, network unreachable, TLS handshake). */
  | 'unreachable'
  /** No answer within the timeout. */
  | 'timeout'
  /** The server answered with a non-2xx status. */
  | 'status';

/** A failed HTTP request, secrets redacted. */
export class HttpError extends ExternalError {
  readonly kind: HttpFailureKind;
  /** Whether trying again soon may succeed (connection refused or reset, timeout, 502/503/504). */
  readonly transient: boolean;
  readonly status?: number;
  /** Response body as text (redacted), for statuses. */
  readonly body?: string;
  /** From a Retry-After header, when the server sent one. */
  readonly retryAfterMs?: number;
  /** What went wrong, without the target: `connection refused (ECONNREFUSED)`. */
  readonly detail: string;

  constructor(
    init: { kind: HttpFailureKind; transient: boolean; status?: number; body?: string; retryAfterMs?: number },
    detail: string,
    target: string,
  ) {
    super(
      init.kind === 'status' ? `HTTP_${init.status ?? 0}` : `HTTP_${init.kind.toUpperCase()}`,
      `${target}: ${detail}`,
      target,
    );
    this.detail = detail;
    this.kind = init.kind;
    this.transient = init.transient;
    if (init.status !== undefined) this.status = init.status;
    if (init.body !== undefined) this.body = init.body;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

export type HttpClientOptions = {
  /** Base URL of every request. A `user:password@` part is used, but never shown. */
  baseUrl?: string;
  /** Timeout of one request, in ms. */
  timeoutMs: number;
  /** Extra headers sent with every request. */
  headers?: Readonly<Record<string, string>>;
  /** PEM CA bundle to trust (contents, not a path), and whether to skip verification. */
  tls?: { ca?: string; insecureSkipVerify?: boolean };
  /**
   * Values that must never appear in an error message: tokens, passwords, webhook URLs. A
   * function is read at each failure, for secrets re-read per request (rotated token files).
   */
  secrets?: readonly string[] | (() => readonly string[]);
  /** Overrides `revroll/<version>`. */
  userAgent?: string;
};

export type HttpClient = {
  /** The configured axios instance; its rejections are always HttpError. */
  axios: AxiosInstance;
  /** Removes every configured secret (and URL credentials) from a text. */
  redact: (text: string) => string;
};

let cachedVersion: string | undefined;

/** revroll's version, from package.json (two levels up from both src/adapters and dist/adapters). */
export function revrollVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version?: unknown;
      };
      cachedVersion = typeof manifest.version === 'string' ? manifest.version : 'unknown';
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}

/** Replaces each secret (raw and URL-encoded) by `***`. Short-circuits on empty secrets. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret containing another is removed whole.
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}

/** A URL without credentials, query or fragment: safe to print. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}

const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ERR_NETWORK: 'network error',
};

/** Transient transport failures worth a quick retry; DNS and TLS problems do not fix themselves in a second. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);
const TRANSIENT_STATUSES = new Set([502, 503, 504]);

function retryAfter(header: unknown): number | undefined {
  if (typeof header !== 'string') return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function bodyText(data: unknown): string {
  if (data === undefined || data === null) return '';
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  try {
    return JSON.stringify(data);
  } catch {
    return String(data);
  }
}

/** Converts whatever axios rejected with into an HttpError; secrets and credentials removed. */
export function toHttpError(error: unknown, redact: (text: string) => string): HttpError {
  if (error instanceof HttpError) return error;
  const axiosError = error instanceof AxiosError ? error : undefined;
  const config = axiosError?.config;
  const rawUrl = config ? axios.getUri(config) : '(unknown URL)';
  const target = redact(`${(config?.method ?? 'get').toUpperCase()} ${displayUrl(rawUrl)}`);
  const response = axiosError?.response;
  if (response !== undefined) {
    const body = redact(bodyText(response.data));
    const oneLine = body.replace(/\s+/g, ' ').trim();
    const excerpt = oneLine.length > 200 ? `${oneLine.slice(0, 200)}...` : oneLine;
    const after = retryAfter(response.headers['retry-after']);
    return new HttpError(
      {
        kind: 'status',
        transient: TRANSIENT_STATUSES.has(response.status),
        status: response.status,
        body,
        ...(after !== undefined ? { retryAfterMs: after } : {}),
      },
      `HTTP ${response.status}${excerpt === '' ? '' : `: ${excerpt}`}`,
      target,
    );
  }
  const code = axiosError?.code ?? (error as { code?: unknown } | undefined)?.code;
  const codeText = typeof code === 'string' ? code : '';
  if (codeText === 'ETIMEDOUT' || codeText === 'ECONNABORTED' || codeText === 'ERR_CANCELED') {
    return new HttpError({ kind: 'timeout', transient: true }, redact(axiosError?.message ?? 'timed out'), target);
  }
  if (/CERT|SELF_SIGNED|TLS|SSL/.test(codeText)) {
    const message = redact(error instanceof Error ? error.message : String(error));
    return new HttpError(
      { kind: 'unreachable', transient: false },
      `TLS verification failed: ${message} (${codeText})`,
      target,
    );
  }
  const known = UNREACHABLE[codeText];
  const detail =
    known !== undefined
      ? `${known} (${codeText})`
      : redact(error instanceof Error ? error.message : String(error)) + (codeText !== '' ? ` (${codeText})` : '');
  return new HttpError({ kind: 'unreachable', transient: TRANSIENT_CODES.has(codeText) }, detail, target);
}

/** Credentials in the URL itself (`https://user:pass@host`) are secrets too. */
function urlSecrets(url: string | undefined): string[] {
  if (url === undefined) return [];
  try {
    const parsed = new URL(url);
    return [parsed.password, decodeURIComponent(parsed.password)].filter((s) => s !== '');
  } catch {
    return [];
  }
}

/** Creates an axios instance with revroll's defaults; its rejections are always HttpError. */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const fromUrl = urlSecrets(options.baseUrl);
  const configured = options.secrets ?? [];
  const redact = (text: string) =>
    redactSecrets(text, [...(typeof configured === 'function' ? configured() : configured), ...fromUrl]);
  const tls = options.tls ?? {};
  const needsAgent = tls.ca !== undefined || tls.insecureSkipVerify === true;
  const instance = axios.create({
    ...(options.baseUrl !== undefined ? { baseURL: options.baseUrl } : {}),
    timeout: options.timeoutMs,
    headers: { ...options.headers, 'User-Agent': options.userAgent ?? `revroll/${revrollVersion()}` },
    ...(needsAgent
      ? {
          httpsAgent: new HttpsAgent({
            ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
            rejectUnauthorized: tls.insecureSkipVerify !== true,
          }),
        }
      : {}),
    // Timeouts surface as ETIMEDOUT rather than the ambiguous ECONNABORTED.
    transitional: { clarifyTimeoutError: true },
    // A redirect would replay a POST as a GET and may cross hosts: report it instead.
    maxRedirects: 0,
  });
  instance.interceptors.response.use(undefined, (error: unknown) => Promise.reject(toHttpError(error, redact)));
  return { axios: instance, redact };
}
