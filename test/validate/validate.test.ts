import {mkdtemp, readdir, rm, truncate, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {parseDeviceModels, parseMigrationInfo} from '../../src/lib/model/metadata.js';
import {isAllowed, isSafeParamName, parseIntRange, parseSysfsValue, valueProblem} from '../../src/lib/model/params.js';
import {validateFile} from '../../src/lib/validate/index.js';
import {fixture} from '../helpers/cli.js';

/** One broken fixture per defect, and the pointer and reason each must get. */
const expected: Record<string, [string, RegExp]> = {
  'bad-range-double-dash.json': ['/models/vendor-b.com~1gfx/params/queues/allowed_values/0', /"--5" is not a "min-max" integer range/],
  'bad-range-min-gt-max.json': ['/models/vendor-b.com~1gfx/params/queues/allowed_values/0', /range "8-2" has min > max/],
  'bad-range-not-number.json': ['/models/vendor-b.com~1gfx/params/queues/allowed_values/0', /"1-x" is not a "min-max"/],
  'bool-with-range.json': ['/models/vendor-b.com~1gfx/params/ecc/allowed_values/0', /range "0-1" given for a bool parameter/],
  'hostile-name-dot.json': ['/models/vendor-b.com~1gfx/params/.', /invalid name "\."/],
  'hostile-name-dotdot.json': ['/models/vendor-b.com~1gfx/params/..~1x', /invalid name "\.\.\/x"/],
  'hostile-name-empty.json': ['/models/vendor-b.com~1gfx/params/', /invalid name ""/],
  'hostile-name-slash.json': ['/models/vendor-b.com~1gfx/params/a~1b', /invalid name "a\/b"/],
  'init-not-in-allowed.json': ['/models/vendor-b.com~1gfx/params/queues/init_value', /12 is not in allowed_values/],
  'init-string-for-int.json': ['/models/vendor-b.com~1gfx/params/memory/init_value', /"4096" is not an int/],
  'invalid-json.json': ['', /not valid JSON: .*try --lenient/],
  'missing-init-value.json': ['/models/vendor-b.com~1gfx/params/queues', /missing required property "init_value"/],
  'missing-type.json': ['/models/vendor-b.com~1gfx/params/queues', /missing required property "type"/],
  'unknown-type.json': ['/models/vendor-b.com~1gfx/params/ratio/type', /must be one of \["bool","int","str"\]/],
};

describe('validate: the broken metadata fixtures', () => {
  it('covers every broken file in fixtures/metadata', async () => {
    const files = (await readdir(fixture('metadata'))).filter((f) => f.endsWith('.json') && !['gfx-v3.json', 'v4-vfio-user.json'].includes(f));
    expect(files.sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s is invalid at its pointer', async (file, [pointer, message]) => {
    const report = await validateFile(fixture('metadata', file));
    expect(report.valid).toBe(false);
    expect(report.problems).toContainEqual({pointer, message: expect.stringMatching(message)});
  });

  it('accepts the valid v3 and v4 files', async () => {
    expect((await validateFile(fixture('metadata/gfx-v3.json'))).problems).toEqual([]);
    expect((await validateFile(fixture('metadata/v4-vfio-user.json'))).problems).toEqual([]);
  });

  it("reads the RFC's single-quoted example only with --lenient; a missing comma stays invalid", async () => {
    expect((await validateFile(fixture('metadata/rfc-v3-example.txt'))).valid).toBe(false);
    expect((await validateFile(fixture('metadata/rfc-v3-example.txt'), {lenient: true})).problems).toEqual([]);
    const missing = await validateFile(fixture('metadata/rfc-v3-example-missing-comma.txt'), {lenient: true});
    expect(missing.problems[0]?.message).toMatch(/not valid JSON: Missing , between flow map items at line \d+/);
  });

  it('validates parameter lists by their kind', async () => {
    expect((await validateFile(fixture('params/gpu-a-8GB.json'))).format).toBe('param-list');
    const hostile = await validateFile(fixture('params/hostile-name-dotdot.json'));
    expect(hostile.valid).toBe(false);
    expect(hostile.problems[0]).toEqual({pointer: '/params/..~1..~1x', message: 'invalid name "../../x"'});
  });

  it('unreadable files are input errors naming the file', async () => {
    await expect(validateFile('/nonexistent.json')).rejects.toThrow('/nonexistent.json: cannot read document: no such file');
    await expect(validateFile(fixture('metadata'))).rejects.toThrow(/metadata: not a regular file; not a document/);
  });

  it('an oversized file is refused before it is read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-big-'));
    const big = path.join(dir, 'huge.json');
    await writeFile(big, '');
    await truncate(big, 300 * 1024 * 1024); // sparse: costs no disk, and would cost 300 MB to read
    const before = process.memoryUsage().rss;
    await expect(validateFile(big)).rejects.toThrow(/huge\.json: larger than 268435456 bytes; not a document/);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    await rm(dir, {recursive: true});
  });
});

describe('parameter rules', () => {
  it('ranges at their edges', () => {
    const spec = {type: 'int' as const, allowed_values: ['1024-8192', 16384]};
    expect(isAllowed(spec, 1024)).toBe(true);
    expect(isAllowed(spec, 8192)).toBe(true);
    expect(isAllowed(spec, 1023)).toBe(false);
    expect(isAllowed(spec, 8193)).toBe(false);
    expect(isAllowed(spec, 16384)).toBe(true);
    expect(parseIntRange('-5-5')).toEqual({min: -5, max: 5});
    expect(parseIntRange('5')).toBeUndefined();
  });

  it('types are strict: "4096" is not 4096', () => {
    const spec = {type: 'int' as const, init_value: 4096};
    expect(valueProblem(spec, '4096')).toBe('"4096" is a str, not an int');
    expect(valueProblem(spec, 4.5)).toBe('4.5 is not a bool, int or str, not an int');
    expect(valueProblem({type: 'bool', init_value: true}, 1)).toBe('1 is an int, not a bool');
    expect(valueProblem({type: 'str', init_value: 'v1', allowed_values: ['v1']}, 'v2')).toBe('"v2" is not in allowed_values [v1]');
  });

  it('safe names', () => {
    for (const bad of ['', '.', '..', '../x', 'a/b', 'a b', 'x\n', 'a'.repeat(129)]) expect(isSafeParamName(bad)).toBe(false);
    for (const good of ['memory', 'feature-a', 'v1.2_x']) expect(isSafeParamName(good)).toBe(true);
  });

  it('sysfs values follow kstrtobool and decimal ints', () => {
    expect(parseSysfsValue('bool', 'Y\n')).toBe(true);
    expect(parseSysfsValue('bool', '0')).toBe(false);
    expect(parseSysfsValue('bool', 'maybe')).toBeUndefined();
    expect(parseSysfsValue('int', '4096abc')).toBeUndefined();
    expect(parseSysfsValue('int', '-3')).toBe(-3);
  });

  it('v4 migration_device_models text', () => {
    expect(parseDeviceModels('org.project/graphics-card:\n4GB-v1\n4GB-v2\n').models).toEqual([
      {model: 'org.project/graphics-card', versions: ['4GB-v1', '4GB-v2']},
    ]);
    expect(parseDeviceModels('4GB-v1\n').problems[0]?.message).toBe('version "4GB-v1" before any "<model>:" line');
    expect(parseDeviceModels('bad model:\n').problems[0]?.message).toBe('invalid model name "bad model"');
  });

  it('a type supports one v3 model', () => {
    const text = JSON.stringify({models: {'a.com/x': {params: {}}, 'b.com/y': {versions: ['1']}}});
    expect(parseMigrationInfo(text).problems).toEqual([]);
  });
});
