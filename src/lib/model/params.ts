import type {AllowedValue, ParamSpec, ParamType, ParamValue} from './types.js';

/**
 * Parameter names become sysfs file names and come from another host: only
 * `[A-Za-z0-9_.-]+`, never `.` or `..`, and short. Check before building any path.
 */
export const SAFE_PARAM_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export function isSafeParamName(name: string): boolean {
  return SAFE_PARAM_NAME.test(name) && name !== '.' && name !== '..';
}

/**
 * Names every JavaScript object already has (`__proto__`, `toString`, `constructor`, ...):
 * refused in vendor metadata, and never looked up with `in` or `obj[name] =` (one would set the
 * prototype, the other find an inherited method).
 */
const OBJECT_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

export function isObjectPrototypeName(name: string): boolean {
  return OBJECT_NAMES.has(name);
}

/** `table[name] = value` as an own data property, even for `__proto__`. */
export function setOwn<T>(table: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(table, name, {value, enumerable: true, writable: true, configurable: true});
}

/** Longest string value accepted in a parameter list (one sysfs page). */
export const MAX_STR_VALUE = 4096;

export interface IntRange {
  min: number;
  max: number;
}

/** Parse `"<min>-<max>"` (decimal integers, min may be negative: `"-5-5"`); undefined if malformed. */
export function parseIntRange(text: string): IntRange | undefined {
  const match = /^(-?\d{1,16})-(-?\d{1,16})$/.exec(text);
  if (!match) return undefined;
  const min = Number(match[1]);
  const max = Number(match[2]);
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max)) return undefined;
  return {min, max};
}

/** The JSON type a value has in our model, or undefined when it fits none of bool/int/str. */
export function typeOfValue(value: unknown): ParamType | undefined {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isSafeInteger(value) ? 'int' : undefined;
  if (typeof value === 'string') return 'str';
  return undefined;
}

/** `a bool`, `an int`, `a str`. */
export function withArticle(type: ParamType): string {
  return `${type === 'int' ? 'an' : 'a'} ${type}`;
}

export function describeValue(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Every problem with one `allowed_values` entry for a parameter of `type` (empty: fine). */
export function allowedEntryProblem(type: ParamType, entry: unknown): string | undefined {
  if (type === 'int') {
    if (typeof entry === 'number') return Number.isSafeInteger(entry) ? undefined : `${entry} is not an integer`;
    if (typeof entry !== 'string') return `${describeValue(entry)} is neither an integer nor a "min-max" range`;
    const range = parseIntRange(entry);
    if (!range) return `"${entry}" is not a "min-max" integer range`;
    if (range.min > range.max) return `range "${entry}" has min > max`;
    return undefined;
  }
  if (type === 'bool') {
    if (typeof entry === 'boolean') return undefined;
    if (typeof entry === 'string' && /-/.test(entry)) return `range "${entry}" given for a bool parameter`;
    return `${describeValue(entry)} is not a bool`;
  }
  if (typeof entry !== 'string') return `${describeValue(entry)} is not a string`;
  return undefined;
}

const rangeCache = new Map<string, IntRange | null>();

/** parseIntRange, memoised per distinct string ("0-64" appears in thousands of types of a fleet). */
export function cachedRange(text: string): IntRange | undefined {
  let range = rangeCache.get(text);
  if (range === undefined) {
    range = parseIntRange(text) ?? null;
    if (rangeCache.size < 100_000) rangeCache.set(text, range);
  }
  return range ?? undefined;
}

/**
 * Whether `value` (already of the right type) is in `allowed_values` (ranges inclusive at
 * both ends; absent: any). The one membership rule: compat, select, inventories and
 * validate all call it.
 */
export function isAllowed(spec: ParamSpec | Pick<ParamSpec, 'type' | 'allowed_values'>, value: ParamValue): boolean {
  const allowed = spec.allowed_values;
  if (allowed === undefined) return true;
  for (const entry of allowed) {
    if (entry === value) return true;
    if (spec.type === 'int' && typeof entry === 'string' && typeof value === 'number') {
      const range = cachedRange(entry);
      if (range && value >= range.min && value <= range.max) return true;
    }
  }
  return false;
}

/** `allowed_values` as people read it: `1024-8192, 16384`. */
export function formatAllowed(allowed: AllowedValue[] | undefined): string {
  if (allowed === undefined) return 'any value of its type';
  return allowed.map((entry) => (typeof entry === 'string' ? entry : String(entry))).join(', ');
}

export type ValueProblemCode = 'WRONG_TYPE' | 'NOT_ALLOWED';

/**
 * The problem with giving `value` to a parameter `spec`, or undefined when it is acceptable:
 * the one value rule (compat's reasons, validate's host check and prepare use it).
 */
export function valueProblemOf(spec: ParamSpec | Pick<ParamSpec, 'type' | 'allowed_values'>, value: unknown): {code: ValueProblemCode; message: string} | undefined {
  const type = typeOfValue(value);
  if (type !== spec.type) {
    return {code: 'WRONG_TYPE', message: `${describeValue(value)} is ${type === undefined ? 'not a bool, int or str' : withArticle(type)}, not ${withArticle(spec.type)}`};
  }
  if (type === 'str' && (value as string).length > MAX_STR_VALUE) return {code: 'NOT_ALLOWED', message: `string longer than ${MAX_STR_VALUE} characters`};
  if (!isAllowed(spec, value as ParamValue)) {
    return {code: 'NOT_ALLOWED', message: `${describeValue(value)} is not in allowed_values [${formatAllowed(spec.allowed_values)}]`};
  }
  return undefined;
}

/** valueProblemOf's message alone. */
export function valueProblem(spec: ParamSpec, value: unknown): string | undefined {
  return valueProblemOf(spec, value)?.message;
}

/**
 * The problem of a value in a parameter list whatever the destination: bool/int/str, and a
 * string short enough and free of control characters to be written to sysfs.
 */
export function listValueProblem(value: unknown): string | undefined {
  const type = typeOfValue(value);
  if (type === undefined) return `${describeValue(value)} is not a bool, int or str`;
  if (type === 'str') {
    const s = value as string;
    if (s.length > MAX_STR_VALUE) return `string of ${s.length} characters; at most ${MAX_STR_VALUE}`;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(s)) return 'string holds a control character; not writable to sysfs';
  }
  return undefined;
}

/**
 * Parse an attribute's text as the declared type. bool follows the kernel's kstrtobool
 * (`1/0`, `y/n`, `on/off`, also `true/false`); int is decimal.
 */
export function parseSysfsValue(type: ParamType, text: string): ParamValue | undefined {
  const t = text.trim();
  if (type === 'int') {
    if (!/^-?\d{1,16}$/.test(t)) return undefined;
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  if (type === 'bool') {
    const lower = t.toLowerCase();
    if (['1', 'y', 'yes', 'on', 'true'].includes(lower)) return true;
    if (['0', 'n', 'no', 'off', 'false'].includes(lower)) return false;
    return undefined;
  }
  return text.replace(/\n$/, '');
}

/** The text written to a sysfs attribute for a value: bool as `1`/`0`, as kstrtobool expects. */
export function formatSysfsValue(value: ParamValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

/** Equality of parameter values (all are primitives). */
export function sameValue(a: ParamValue | undefined, b: ParamValue | undefined): boolean {
  return a === b;
}
