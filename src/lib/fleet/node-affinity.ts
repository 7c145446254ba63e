/**
 * Kubernetes required node affinity, evaluated as the Kubernetes documentation defines it
 * (API reference: NodeSelector, NodeSelectorTerm, NodeSelectorRequirement; "Labels and
 * Selectors"), independently of how vfio-mig writes labels:
 * - `nodeSelectorTerms` are ORed; a null or empty term matches no node;
 * - a term's `matchExpressions` are ANDed;
 * - In: the label exists and its value is one of `values`; NotIn: the label is absent or its
 *   value is none of `values`; Exists / DoesNotExist: the key is present / absent;
 * - Gt / Lt: the label exists and its value, read as an integer, is greater / less than the
 *   single element of `values`, also an integer (a value that is not an integer: no match).
 * In/NotIn need at least one value, Exists/DoesNotExist none, Gt/Lt exactly one integer;
 * anything else is an invalid affinity (the API server refuses it): thrown here.
 */

export interface Requirement {
  key: string;
  operator: string;
  values?: string[] | null;
}

export interface Term {
  matchExpressions?: Requirement[] | null;
}

export interface RequiredAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: {nodeSelectorTerms: (Term | null)[]} | null;
}

/** Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, within int64. */
function parseInt64(text: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const n = BigInt(text);
  if (n > 9223372036854775807n || n < -9223372036854775808n) return undefined;
  return n;
}

export class InvalidAffinity extends Error {}

function matches(req: Requirement, labels: ReadonlyMap<string, string>): boolean {
  const values = req.values ?? [];
  const has = labels.has(req.key);
  const value = labels.get(req.key);
  switch (req.operator) {
    case 'In':
      if (values.length === 0) throw new InvalidAffinity(`${req.key}: In needs values`);
      return has && values.includes(value as string);
    case 'NotIn':
      if (values.length === 0) throw new InvalidAffinity(`${req.key}: NotIn needs values`);
      return !has || !values.includes(value as string);
    case 'Exists':
      if (values.length !== 0) throw new InvalidAffinity(`${req.key}: Exists takes no values`);
      return has;
    case 'DoesNotExist':
      if (values.length !== 0) throw new InvalidAffinity(`${req.key}: DoesNotExist takes no values`);
      return !has;
    case 'Gt':
    case 'Lt': {
      const bound = values.length === 1 ? parseInt64(values[0] as string) : undefined;
      if (bound === undefined) throw new InvalidAffinity(`${req.key}: ${req.operator} needs one integer value`);
      if (!has) return false;
      const n = parseInt64(value as string);
      if (n === undefined) return false;
      return req.operator === 'Gt' ? n > bound : n < bound;
    }
    default:
      throw new InvalidAffinity(`${req.key}: unknown operator ${req.operator}`);
  }
}

/** Whether a node with `labels` satisfies the required node affinity (none given: every node). */
export function nodeMatches(affinity: RequiredAffinity, labels: ReadonlyMap<string, string>): boolean {
  const required = affinity.requiredDuringSchedulingIgnoredDuringExecution;
  if (required === undefined || required === null) return true;
  return required.nodeSelectorTerms.some((term) => {
    const exprs = term?.matchExpressions ?? [];
    if (exprs.length === 0) return false;
    return exprs.every((req) => matches(req, labels));
  });
}
