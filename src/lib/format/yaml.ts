import {Document, parse, Scalar, type Tags, visit} from 'yaml';

import {InputError} from '../errors.js';

/**
 * Plain scalars YAML 1.1 gives a meaning the `yaml` package does not quote for: `=` (the value
 * key) and `<<` (the merge key). PyYAML's safe_load fails on the first and merges on the second.
 */
const YAML11_SPECIAL = new Set(['=', '<<']);

const BOOL = 'tag:yaml.org,2002:bool';

/**
 * The YAML 1.1 schema as PyYAML resolves it: its booleans are yes/no/true/false/on/off only
 * (the `yaml` package also reads `y` and `n`, so a PyYAML key `n:` would become `false:`).
 * The merge tag is left out of output only (see toYaml).
 */
function pyYamlTags(tags: Tags, output: boolean): Tags {
  return tags
    .filter((t) => !(output && typeof t !== 'string' && t.tag === 'tag:yaml.org,2002:merge'))
    .map((t) => {
      if (typeof t === 'string' || t.tag !== BOOL || !('test' in t) || t.test === undefined) return t;
      const yes = t.test.test('yes');
      return {...t, test: yes ? /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/ : /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/};
    });
}

/** Characters YAML 1.1 does not allow raw (C1 but NEL, DEL, non-characters): PyYAML refuses them. */
// eslint-disable-next-line no-control-regex
const NOT_PRINTABLE = /[\u007f-\u0084\u0086-\u009f\ufffe\uffff]/g;

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
    customTags: (tags) => pyYamlTags(tags, true),
  });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string') return;
      NOT_PRINTABLE.lastIndex = 0;
      if (YAML11_SPECIAL.has(node.value) || NOT_PRINTABLE.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  // The package writes those characters raw even in double quotes; only double-quoted scalars
  // can hold them (forced above), where `\xNN` is the escape.
  return doc.toString({lineWidth: 0}).replace(NOT_PRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/**
 * Parse YAML (a superset of JSON) strictly, as YAML 1.1 like the output (`yes` is true, `010`
 * is 8, `0o17` a string, as PyYAML writes them): duplicate keys are an error with a position.
 */
export function parseYamlOrJson(text: string, what: string): unknown {
  try {
    return parse(text, {uniqueKeys: true, prettyErrors: true, strict: true, version: '1.1', customTags: (tags) => pyYamlTags(tags, false)});
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new InputError(`${what}: not valid YAML/JSON: ${message}`, 'PARSE');
  }
}
