import {parse, stringify} from 'yaml';

import {InputError} from '../errors.js';

/**
 * YAML that other tools read back as written: no `&a1` anchors for shared objects, no
 * line wrapping, YAML 1.1 quoting so PyYAML (OpenStack) does not turn `on`/`yes` into booleans.
 */
export function toYaml(value: unknown): string {
  return stringify(value, {aliasDuplicateObjects: false, lineWidth: 0, version: '1.1'});
}

/** Parse YAML (a superset of JSON) strictly: duplicate keys are an error with a position. */
export function parseYamlOrJson(text: string, what: string): unknown {
  try {
    return parse(text, {uniqueKeys: true, prettyErrors: true, strict: true});
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new InputError(`${what}: not valid YAML/JSON: ${message}`, 'PARSE');
  }
}
