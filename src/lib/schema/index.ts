import type {ErrorObject, ValidateFunction} from 'ajv';

/** One schema or semantic problem, located by a JSON pointer into the checked document. */
export interface Problem {
  pointer: string;
  message: string;
}

/** RFC 6901 pointer segment. */
export function pointerSegment(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointerOf(...keys: (string | number)[]): string {
  return keys.map((k) => `/${pointerSegment(k)}`).join('');
}

function describeError(error: ErrorObject): Problem {
  const base = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return {pointer: base, message: `missing required property "${String(params.missingProperty)}"`};
    case 'additionalProperties':
      return {
        pointer: `${base}/${pointerSegment(String(params.additionalProperty))}`,
        message: `unknown property "${String(params.additionalProperty)}"`,
      };
    case 'unevaluatedProperties':
      // Where a definition is shared between formats (inventory v1/v2 and v3), as additionalProperties says it.
      return {
        pointer: `${base}/${pointerSegment(String(params.unevaluatedProperty))}`,
        message: `unknown property "${String(params.unevaluatedProperty)}"`,
      };
    case 'propertyNames':
      return {
        pointer: `${base}/${pointerSegment(String(params.propertyName))}`,
        message: `invalid name ${JSON.stringify(params.propertyName)}`,
      };
    case 'enum':
      return {pointer: base, message: `must be one of ${JSON.stringify(params.allowedValues)}`};
    case 'const':
      return {pointer: base, message: `must be ${JSON.stringify(params.allowedValue)}`};
    default:
      return {pointer: base, message: error.message ?? error.keyword};
  }
}

/**
 * Validate with a build-time compiled validator (`./generated/<format>.js`, one module per
 * file format so each command loads only what it checks); problems deduplicated.
 */
export function schemaProblems(validate: ValidateFunction, data: unknown): Problem[] {
  if (validate(data)) return [];
  const errors = (validate.errors ?? []).filter(
    // Name errors are reported once by `propertyNames`; `if`/`oneOf` summaries add nothing.
    (e) => !(e.propertyName !== undefined && e.keyword !== 'propertyNames') && e.keyword !== 'if',
  );
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const error of errors) {
    const problem = describeError(error);
    const key = `${problem.pointer}\0${problem.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      problems.push(problem);
    }
  }
  return problems;
}
