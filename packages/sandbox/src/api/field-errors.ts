/**
 * Field errors as k8s.io/apimachinery/pkg/util/validation/field writes them, so that a 422 reads
 * exactly as kube-apiserver's: `<field>: <Type>[: <value>][: <detail>]`, where the value is
 * printed as Go prints it (`%q` for strings, `%v` for numbers and booleans, `%#v` for structs,
 * maps and slices: `map[string]string{"app":"web"}`, `v1.LabelSelector{...}`).
 * `field.Error.ErrorBody` and `ErrorType.String` are the sources.
 */

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueDuplicate'
  | 'FieldValueTooMany';

/** A value as Go's fmt prints it in a field error (already rendered for structs). */
export type GoValue = { go: string };

export type FieldError = {
  type: FieldErrorType;
  field: string;
  /** The bad value; absent for types that print none (Required, Forbidden, TooLong). */
  value?: string | number | boolean | null | GoValue;
  detail?: string;
};

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueTooMany: 'Too many',
};

/** Go's `%q` for the strings the API validates (ASCII in practice; JSON escaping matches it there). */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}

function printValue(value: FieldError['value']): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goQuote(value);
  if (typeof value === 'object') return value.go;
  return String(value);
}

/** `field.Error.ErrorBody()`. */
export function errorBody(error: FieldError): string {
  const head = TYPE_TEXT[error.type];
  const printsValue =
    error.type !== 'FieldValueRequired' &&
    error.type !== 'FieldValueForbidden' &&
    error.type !== 'FieldValueTooLong' &&
    error.value !== undefined;
  const body = printsValue ? `${head}: ${printValue(error.value)}` : head;
  return error.detail ? `${body}: ${error.detail}` : body;
}

/** `field.Error.Error()`. */
export function errorText(error: FieldError): string {
  return `${error.field}: ${errorBody(error)}`;
}

export const required = (field: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field, detail });

export const invalidValue = (field: string, value: FieldError['value'], detail: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  value,
  detail,
});

export const forbidden = (field: string, detail: string): FieldError => ({
  type: 'FieldValueForbidden',
  field,
  detail,
});

export const duplicate = (field: string, value: FieldError['value']): FieldError => ({
  type: 'FieldValueDuplicate',
  field,
  value,
});

export const tooLong = (field: string, max: number): FieldError => ({
  type: 'FieldValueTooLong',
  field,
  detail: `must have at most ${max} bytes`,
});

/** `field.NotSupported`: `Unsupported value: "x": supported values: "a", "b"`. */
export function notSupported(field: string, value: FieldError['value'], supported: readonly string[]): FieldError {
  return {
    type: 'FieldValueNotSupported',
    field,
    value,
    detail: `supported values: ${supported.map(goQuote).join(', ')}`,
  };
}

/** `ValidateImmutableField`: `Invalid value: <new>: field is immutable`. */
export const immutable = (field: string, value: FieldError['value']): FieldError =>
  invalidValue(field, value, 'field is immutable');

// Go `%#v` renderings of the API types that appear in error values.

export function goStringMap(map: Record<string, string> | null | undefined): GoValue {
  if (map === null || map === undefined) return { go: 'map[string]string(nil)' };
  const entries = Object.keys(map)
    .sort()
    .map((k) => `${goQuote(k)}:${goQuote(map[k] ?? '')}`);
  return { go: `map[string]string{${entries.join(', ')}}` };
}

export function goStringSlice(values: readonly string[] | null | undefined): GoValue {
  if (values === null || values === undefined) return { go: '[]string(nil)' };
  return { go: `[]string{${values.map(goQuote).join(', ')}}` };
}

type Selector = {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: readonly { key?: string; operator?: string; values?: readonly string[] | null }[] | null;
};

/**
 * A `*metav1.LabelSelector` in a field error: the pointer implements fmt.Stringer (generated
 * protobuf code), so ErrorBody prints its `String()`:
 * `&LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}`.
 */
export function goLabelSelector(selector: Selector | null | undefined): GoValue {
  if (!selector) return { go: 'null' };
  const labels = Object.keys(selector.matchLabels ?? {})
    .sort()
    .map((k) => `${k}: ${selector.matchLabels?.[k] ?? ''},`)
    .join('');
  const expressions = (selector.matchExpressions ?? [])
    .map(
      (e) =>
        `LabelSelectorRequirement{Key:${e.key ?? ''},Operator:${e.operator ?? ''},Values:[${(e.values ?? []).join(' ')}],},`,
    )
    .join('');
  return {
    go: `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{${expressions}},}`,
  };
}
