/**
 * Checks of single field values (names, cron, time zones, times of day, dates, URLs, Slack IDs).
 * Each returns undefined when the value is fine, or the message explaining what is wrong; the
 * schema attaches them to fields together with the rule name reported to users.
 */
import { validateCronExpression } from 'cron';

/** A check of one value: undefined when fine, else the problem message. */
export type FieldCheck = (value: string) => string | undefined;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** DNS-1123 label: what Kubernetes accepts as a namespace or object name component. */
export const checkDnsLabel: FieldCheck = (value) => {
  if (value.length > 63) return `"${clip(value)}" is longer than 63 characters (DNS-1123 label)`;
  if (!DNS_LABEL.test(value)) {
    return `"${clip(value)}" is not a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit`;
  }
  return undefined;
};

/**
 * Revision names end up in object names (`istiod-<rev>`) and label values, so they are DNS-1123
 * labels; dots are the classic mistake (`1.25.1` instead of `1-25-1`).
 */
export const checkRevisionName: FieldCheck = (value) => {
  if (value.includes('.')) {
    return `revision "${clip(value)}" contains dots: Istio revision names use dashes (e.g. ${clip(value.replaceAll('.', '-'))})`;
  }
  return checkDnsLabel(value);
};

/**
 * Tag names become `istio-revision-tag-<tag>` webhooks and `istio.io/rev` label values. The MWC
 * name adds 19 characters and must stay a valid object name, hence the 63-character label rule.
 */
export const checkTagName: FieldCheck = (value) => {
  if (value === 'auto') return 'the tag name "auto" is reserved (it means "whatever the default tag points at")';
  return checkDnsLabel(value);
};

/** Five-field cron (minute hour day-of-month month day-of-week), validated by the `cron` package. */
export const checkCron: FieldCheck = (value) => {
  const fields = value.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `cron expression "${clip(value)}" has ${fields.length} field(s); expected 5 (minute hour day-of-month month day-of-week)`;
  }
  const result = validateCronExpression(value);
  if (!result.valid) {
    const reason = result.error?.message ?? 'invalid';
    return `invalid cron expression "${clip(value)}": ${clip(reason, 120)}`;
  }
  return undefined;
};

/** IANA time zone, as Intl knows it (`Europe/Paris`, `UTC`). */
export const checkTimeZone: FieldCheck = (value) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return undefined;
  } catch {
    return `unknown time zone "${clip(value)}": use an IANA name such as UTC or Europe/Paris`;
  }
};

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** `HH:MM`, 24-hour clock. */
export const checkTimeOfDay: FieldCheck = (value) =>
  TIME_OF_DAY.test(value)
    ? undefined
    : `"${clip(value)}" is not a time of day: expected HH:MM (24-hour clock, e.g. 22:30)`;

/** Minutes since midnight of a valid `HH:MM`. */
export function minuteOfDay(value: string): number {
  const match = TIME_OF_DAY.exec(value);
  return match ? Number(match[1]) * 60 + Number(match[2]) : 0;
}

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T([01]\d|2[0-3]):([0-5]\d))?$/;

/** `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`, a real calendar date, read in the schedule's time zone. */
export const checkLocalDateTime: FieldCheck = (value) => {
  const match = LOCAL_DATE_TIME.exec(value);
  if (!match) return `"${clip(value)}" is not a date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM`;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return `"${value}" is not a calendar date`;
  }
  return undefined;
};

/**
 * Normalizes a valid freeze bound to `YYYY-MM-DDTHH:MM`. A date alone means the start of that day
 * for `from`, and the end of that day for `to` (the day is included), i.e. the next midnight.
 */
export function localDateTimeBound(value: string, bound: 'from' | 'to'): string {
  if (value.includes('T')) return value;
  if (bound === 'from') return `${value}T00:00`;
  const [year, month, day] = value.split('-').map(Number);
  const next = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, (day ?? 1) + 1));
  return `${next.toISOString().slice(0, 10)}T00:00`;
}

/** An absolute http(s) URL. */
export const checkHttpUrl: FieldCheck = (value) => {
  if (!URL.canParse(value)) return `"${clip(value)}" is not a URL`;
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${clip(value)}" must be an http or https URL`;
  if (url.username !== '' || url.password !== '') {
    return 'the URL contains credentials: put them in auth, with the secret as {env: NAME} or {file: /path}';
  }
  return undefined;
};

/** Slack user IDs (`U0123ABCD`, `W...` on Enterprise Grid); display names change, IDs do not. */
export const checkSlackUserId: FieldCheck = (value) =>
  /^[UW][A-Z0-9]{2,}$/.test(value)
    ? undefined
    : `"${clip(value)}" is not a Slack user ID (like U0123ABCD); names can change, IDs cannot`;

/** Slack user group IDs (`S0123ABCD`). */
export const checkSlackGroupId: FieldCheck = (value) =>
  /^S[A-Z0-9]{2,}$/.test(value) ? undefined : `"${clip(value)}" is not a Slack user group ID (like S0123ABCD)`;

/** A Slack user or group ID. */
export const checkSlackMention: FieldCheck = (value) =>
  /^[UWS][A-Z0-9]{2,}$/.test(value)
    ? undefined
    : `"${clip(value)}" is not a Slack user or user group ID (like U0123ABCD or S0123ABCD)`;

/** A Slack channel: `#name` or a channel ID (`C0123ABCD`). */
export const checkSlackChannel: FieldCheck = (value) =>
  /^#[a-z0-9][a-z0-9._-]{0,79}$/.test(value) || /^[CG][A-Z0-9]{2,}$/.test(value)
    ? undefined
    : `"${clip(value)}" is not a Slack channel: use #name or a channel ID like C0123ABCD`;

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes label key: optional DNS subdomain prefix, `/`, a name of at most 63 characters. */
export const checkLabelKey: FieldCheck = (value) => {
  const slash = value.lastIndexOf('/');
  const prefix = slash >= 0 ? value.slice(0, slash) : undefined;
  const name = slash >= 0 ? value.slice(slash + 1) : value;
  const nameOk = name.length <= 63 && LABEL_NAME.test(name);
  const prefixOk = prefix === undefined || (prefix.length <= 253 && LABEL_PREFIX.test(prefix));
  return nameOk && prefixOk ? undefined : `"${clip(value)}" is not a valid Kubernetes label key`;
};

/** Kubernetes label value: empty, or at most 63 alphanumerics, `-`, `_`, `.` inside. */
export const checkLabelValue: FieldCheck = (value) =>
  value === '' || (value.length <= 63 && LABEL_NAME.test(value))
    ? undefined
    : `"${clip(value)}" is not a valid Kubernetes label value`;

/** Shortens a value before quoting it back to the user (values may be megabytes long). */
export function clip(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** DNS-1123 subdomain: what Kubernetes accepts as the name of a Deployment and most objects. */
export const checkDnsSubdomain: FieldCheck = (value) =>
  value.length <= 253 && DNS_SUBDOMAIN.test(value)
    ? undefined
    : `"${clip(value)}" is not a valid Kubernetes object name (DNS-1123 subdomain)`;

/** Environment variable name, as a shell would accept it. */
export const checkEnvName: FieldCheck = (value) =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? undefined : `"${clip(value)}" is not an environment variable name`;

/** An absolute file path (the runner resolves nothing relative to an unknown working directory). */
export const checkAbsolutePath: FieldCheck = (value) =>
  value.startsWith('/') && !value.includes('\0') ? undefined : `"${clip(value)}" is not an absolute path`;
