/**
 * The string rules of k8s.io/apimachinery/pkg/util/validation (IsDNS1123Subdomain,
 * IsDNS1123Label, IsDNS1035Label, IsQualifiedName, IsValidLabelValue, IsConfigMapKey) and
 * path.ValidatePathSegmentName, each returning the messages that package returns (none when valid).
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

export const SUBDOMAIN_HELP =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
export const LABEL_HELP =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS_1035_HELP =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
export const LABEL_VALUE_HELP =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_HELP =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const QUALIFIED_SLASHES_HELP =
  "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
const CONFIG_KEY_HELP =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

const maxLength = (n: number) => `must be no more than ${n} characters`;

export function dns1123Subdomain(value: string): string[] {
  const out: string[] = [];
  if (value.length > 253) out.push(maxLength(253));
  if (!DNS_SUBDOMAIN.test(value)) out.push(SUBDOMAIN_HELP);
  return out;
}

export function dns1123Label(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push(maxLength(63));
  if (!DNS_LABEL.test(value)) out.push(LABEL_HELP);
  return out;
}

export function dns1035Label(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push(maxLength(63));
  if (!DNS_1035.test(value)) out.push(DNS_1035_HELP);
  return out;
}

export function pathSegmentName(value: string): string[] {
  if (value === '.' || value === '..') return [`may not be '${value}'`];
  const out: string[] = [];
  for (const illegal of ['/', '%']) if (value.includes(illegal)) out.push(`may not contain '${illegal}'`);
  return out;
}

export function qualifiedName(value: string): string[] {
  const parts = value.split('/');
  let name = value;
  const out: string[] = [];
  if (parts.length === 2) {
    const [prefix = '', rest = ''] = parts;
    name = rest;
    if (prefix.length === 0) out.push('prefix part must be non-empty');
    else for (const msg of dns1123Subdomain(prefix)) out.push(`prefix part ${msg}`);
  } else if (parts.length > 2) {
    return [QUALIFIED_SLASHES_HELP];
  }
  if (name.length === 0) out.push('name part must be non-empty');
  else if (name.length > 63) out.push(`name part ${maxLength(63)}`);
  if (name.length > 0 && !QUALIFIED_NAME.test(name)) out.push(QUALIFIED_HELP);
  return out;
}

export function labelValue(value: string): string[] {
  const out: string[] = [];
  if (value.length > 63) out.push(maxLength(63));
  if (!LABEL_VALUE.test(value)) out.push(LABEL_VALUE_HELP);
  return out;
}

export function configMapKey(value: string): string[] {
  const out: string[] = [];
  if (value.length > 253) out.push(maxLength(253));
  if (!CONFIG_KEY.test(value)) out.push(CONFIG_KEY_HELP);
  if (value === '.') out.push("must not be '.'");
  else if (value === '..') out.push("must not be '..'");
  else if (value.startsWith('..')) out.push("must not start with '..'");
  return out;
}

/** `IsFullyQualifiedName`, the rule for webhook names. */
export function fullyQualifiedName(value: string): string[] {
  if (value.length === 0) return ['Required value'];
  const sub = dns1123Subdomain(value);
  if (sub.length > 0) return sub;
  return value.split('.').length < 3 ? ['should be a domain with at least three segments separated by dots'] : [];
}

/** apimachinery's maskTrailingDash: a generateName prefix may end in '-'. */
export function maskTrailingDash(value: string): string {
  return value.length > 1 && value.endsWith('-') ? `${value.slice(0, -2)}a` : value;
}
