import {Document, parse, Scalar, visit} from 'yaml';

import {InputError} from '../errors.js';

/**
 * Plain scalars YAML 1.1 gives a meaning the `yaml` package does not quote for: `=` (the value
 * key) and `<<` (the merge key). PyYAML's safe_load fails on the first and merges on the second.
 */
const YAML11_SPECIAL = new Set(['=', '<<']);

/**
 * YAML that other tools read back as written: no `&a1` anchors for shared objects, no line
 * wrapping, YAML 1.1 (what PyYAML and so OpenStack read), so `on`/`yes`/`010`/`=` are quoted
 * and come back as the strings they are. test/hostile/yaml.test.ts round-trips through PyYAML.
 */
export function toYaml(value: unknown): string {
  // Without the merge tag: it writes the string `<<` bare whatever the node's quoting says.
  const doc = new Document(value, {
    aliasDuplicateObjects: false,
    version: '1.1',
    customTags: (tags) => tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:merge'),
  });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && YAML11_SPECIAL.has(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  return doc.toString({lineWidth: 0});
}

/**
 * Parse YAML (a superset of JSON) strictly, as YAML 1.1 like the output (`yes` is true, `010`
 * is 8, `0o17` a string, as PyYAML writes them): duplicate keys are an error with a position.
 */
export function parseYamlOrJson(text: string, what: string): unknown {
  try {
    return parse(text, {uniqueKeys: true, prettyErrors: true, strict: true, version: '1.1'});
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new InputError(`${what}: not valid YAML/JSON: ${message}`, 'PARSE');
  }
}
