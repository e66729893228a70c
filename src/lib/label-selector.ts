/**
 * Kubernetes label selectors as a policy states them (the structured `LabelSelector` of
 * `waves[].namespaces.selector`), reduced to a list of requirements and matched against labels.
 */

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One requirement; a selector matches when every requirement holds. */
export type Requirement = {
  key: string;
  operator: SelectorOperator;
  values: readonly string[];
};

/** The structured selector of the Kubernetes API (`metav1.LabelSelector`). */
export type LabelSelector = {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] | null }[] | null;
};

/** Reduces a structured `LabelSelector` to requirements. An unknown operator is an error. */
export function labelSelectorRequirements(selector: LabelSelector | null | undefined): Requirement[] {
  if (!selector) return [];
  const requirements: Requirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    requirements.push({ key, operator: 'In', values: [value] });
  }
  for (const expression of selector.matchExpressions ?? []) {
    const operator = expression.operator;
    if (operator !== 'In' && operator !== 'NotIn' && operator !== 'Exists' && operator !== 'DoesNotExist') {
      throw new Error(`"${operator}" is not a valid label selector operator`);
    }
    requirements.push({ key: expression.key, operator, values: expression.values ?? [] });
  }
  return requirements;
}

/** True when `labels` satisfy every requirement (an empty list matches everything). */
export function matches(
  requirements: readonly Requirement[],
  labels: Readonly<Record<string, string>> | null | undefined,
): boolean {
  const set = labels ?? {};
  for (const requirement of requirements) {
    const has = Object.hasOwn(set, requirement.key);
    const value = set[requirement.key];
    switch (requirement.operator) {
      case 'In':
        if (!has || value === undefined || !requirement.values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && value !== undefined && requirement.values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
