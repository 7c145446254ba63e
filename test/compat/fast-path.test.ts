// The inventory reader's fast metadata check is a second copy of the parameter rules, kept for
// fleet-sized files; it must say "fine" exactly when the canonical rules (model/metadata) find
// nothing. This pins the copy: every combination of types, values and allowed-value entries.
import {specOk} from '../../src/lib/inventory/index.js';
import {semanticProblems} from '../../src/lib/model/metadata.js';
import type {ParamSpec} from '../../src/lib/model/types.js';

const values: unknown[] = [0, 1, 7, -3, 4096, 2 ** 53, 1.5, true, false, 'v1', 'v2', '', '1', '2-8', '8-2', '1-', '-5', '1--2', null];
const entries: unknown[] = [0, 4, 16384, -1, 1.5, 2 ** 53, true, false, 'v1', 'v2', '1-8', '8-2', '0-0', '1--2', 'a-b', '3-', ' 1-2', '1-2 ', '-4-2', '', null, [1]];

function canonicalOk(spec: ParamSpec): boolean {
  return semanticProblems({models: {'vendor.com/x': {params: {p: spec}}}}).length === 0;
}

function* specs(): Generator<ParamSpec> {
  let seed = 12345;
  const pick = <T>(a: T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return a[(seed >>> 8) % a.length] as T;
  };
  for (const type of ['int', 'bool', 'str'] as const) {
    for (const init of values) {
      yield {type, init_value: init} as ParamSpec;
      for (const off of values) yield {type, init_value: init, off_value: off} as ParamSpec;
      for (const entry of entries) {
        yield {type, init_value: init, allowed_values: [entry]} as ParamSpec;
        for (const other of entries) yield {type, init_value: init, allowed_values: [entry, other]} as ParamSpec;
      }
    }
    for (let i = 0; i < 4000; i++) {
      const allowed = Array.from({length: 1 + (i % 4)}, () => pick(entries));
      const spec = {type, init_value: pick(values), allowed_values: allowed} as ParamSpec;
      if (i % 2) (spec as {off_value?: unknown}).off_value = pick(values);
      yield spec;
    }
  }
}

test('the inventory fast path agrees with the canonical metadata rules on every generated spec', () => {
  const disagreements: string[] = [];
  let checked = 0;
  let fine = 0;
  for (const spec of specs()) {
    checked++;
    const fast = specOk(spec);
    const canonical = canonicalOk(spec);
    if (canonical) fine++;
    if (fast !== canonical) disagreements.push(`${JSON.stringify(spec)}: fast ${fast}, canonical ${canonical}`);
  }
  expect(disagreements.slice(0, 10)).toEqual([]);
  // Both verdicts occur often enough for the comparison to mean something.
  expect(fine).toBeGreaterThan(100);
  expect(checked - fine).toBeGreaterThan(100);
});
