import {readFile} from 'node:fs/promises';
import path from 'node:path';

import {InputError} from '../../src/lib/errors.js';
import {buildParamList, parseParamList, readParamListFile, validateParamList} from '../../src/lib/paramlist/index.js';
import {
  fixtureList,
  GPU_A_4GB_DEV,
  GPU_A_8GB_DEV,
  GPU_B_16GB_DEV,
  hostRoot,
  PARAMS,
  V4_8GB_DEV,
  VF_SRC,
  schemaValid,
} from './helpers.js';

describe('building a parameter list from a source device', () => {
  it.each([
    ['gpu-a', GPU_A_8GB_DEV, 'gpu-a-8GB.json'],
    ['gpu-a', GPU_A_4GB_DEV, 'gpu-a-4GB.json'],
    ['gpu-b', GPU_B_16GB_DEV, 'gpu-b-16GB.json'],
    ['v4-host', V4_8GB_DEV, 'v4-8GB.json'],
    ['pci-vf', VF_SRC, 'pci-vf-mlx5.json'],
  ])('%s %s gives fixtures/params/%s', async (host, device, file) => {
    const list = await buildParamList(hostRoot(host), device, {host});
    expect(list).toEqual(await fixtureList(file));
    expect(schemaValid('paramList', list)).toBe(true);
    expect(schemaValid('output_params', list)).toBe(true);
  });

  it('leaves out parameters at their off_value and keeps those without one (bool, int, str)', async () => {
    const list = await buildParamList(hostRoot('gpu-a'), GPU_A_8GB_DEV, {host: 'gpu-a'});
    if (list.scheme !== 'v3') throw new Error('v3 expected');
    // ecc=0 is its off_value (false): absent. encoder=2 differs from off 0: present.
    // profile "v2" differs from off "v1" (str). memory and queues have no off_value: always present.
    expect(Object.keys(list.params)).toEqual(['memory', 'profile', 'encoder', 'queues']);
    expect(list.params).toEqual({memory: 8192, profile: 'v2', encoder: 2, queues: 4});
    const four = await buildParamList(hostRoot('gpu-a'), GPU_A_4GB_DEV, {host: 'gpu-a'});
    expect(four.scheme === 'v3' && four.params.ecc).toBe(true); // bool differs from off false
    expect(four.scheme === 'v3' && 'encoder' in four.params).toBe(false); // 0 == off_value
  });

  it('records where the list came from', async () => {
    const list = await buildParamList(hostRoot('gpu-a'), GPU_A_8GB_DEV.toUpperCase(), {host: 'gpu-a'});
    expect(list.source).toEqual({host: 'gpu-a', device: GPU_A_8GB_DEV, type: 'vgfx-8GB', parent: '0000:65:00.0'});
  });

  it('refuses unknown devices with an input error', async () => {
    await expect(buildParamList(hostRoot('gpu-a'), '00000000-0000-0000-0000-000000000000')).rejects.toMatchObject({exitCode: 2, code: 'NO_DEVICE'});
    await expect(buildParamList(hostRoot('gpu-a'), 'not-a-device')).rejects.toMatchObject({exitCode: 2});
  });
});

describe('reading a parameter list file', () => {
  const base = () => ({
    apiVersion: 'vfio-mig/v1',
    kind: 'ParamList',
    scheme: 'v3',
    model: 'vendor-a.com/gfx',
    params: {memory: 8192} as Record<string, unknown>,
    source: {host: 'h', device: 'd'},
  });

  it.each(['gpu-a-4GB.json', 'gpu-a-8GB.json', 'gpu-b-16GB.json', 'v4-8GB.json', 'pci-vf-mlx5.json', 'unknown-param.json', 'wrong-value-type.json'])(
    'accepts %s (compat judges the values)',
    async (file) => {
      await expect(readParamListFile(path.join(PARAMS, file))).resolves.toMatchObject({kind: 'ParamList'});
    },
  );

  it.each([
    ['hostile-name-dotdot.json', '../../x'],
    ['hostile-name-slash.json', 'a/b'],
    ['hostile-name-empty.json', '""'],
  ])('rejects %s naming %s with exit 2', async (file, name) => {
    const error = await readParamListFile(path.join(PARAMS, file)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).exitCode).toBe(2);
    expect((error as InputError).message).toContain(name === '""' ? 'invalid name ""' : name);
  });

  it('rejects a 1 MB value', () => {
    const doc = base();
    doc.params.profile = 'x'.repeat(1024 * 1024);
    expect(() => validateParamList(doc)).toThrow(InputError);
    expect(() => validateParamList(doc)).toThrow(/must NOT have more than 4096 characters/);
  });

  it.each([
    ['null', null],
    ['a float', 1.5],
    ['an array', [1]],
    ['an object', {a: 1}],
  ])('rejects a value that is %s', (_what, value) => {
    const doc = base();
    doc.params.memory = value;
    expect(() => validateParamList(doc)).toThrow(InputError);
  });

  it('rejects control characters in str values, "." and ".." names, and unknown keys', () => {
    for (const [name, value] of [
      ['profile', 'a\nb'],
      ['profile', 'a\u0000b'],
      ['.', 1],
      ['..', 1],
    ] as const) {
      const doc = base();
      doc.params[name] = value;
      expect(() => validateParamList(doc)).toThrow(InputError);
    }
    expect(() => validateParamList({...base(), extra: 1})).toThrow(/unknown property "extra"/);
    expect(() => validateParamList({...base(), scheme: 'v4'})).toThrow(InputError);
  });

  it('reads YAML and refuses duplicate keys', async () => {
    const yaml = 'apiVersion: vfio-mig/v1\nkind: ParamList\nscheme: v3\nmodel: vendor-a.com/gfx\nparams:\n  memory: 8192\n  ecc: true\n  profile: "v2"\nsource: {host: h, device: d}\n';
    await expect(parseParamList(yaml)).resolves.toMatchObject({params: {memory: 8192, ecc: true, profile: 'v2'}});
    await expect(parseParamList(yaml.replace('ecc: true', 'memory: 1'))).rejects.toThrow(InputError);
    await expect(parseParamList('{"memory": 1, "memory": 2}')).rejects.toThrow(/duplicate key "\/memory"/);
    await expect(parseParamList('{"a": {"b": [{"c": 1, "d": "x\\"\\"", "c": 2}]}}')).rejects.toThrow(/duplicate key "\/a\/b\/\/c"/);
    await expect(parseParamList('{"a": {"b": 1}, "c": {"b": 1}, "e": [{"b": 1}, {"b": 2}]}')).rejects.toThrow(/not a valid parameter list/);
    await expect(parseParamList('{"a": ')).rejects.toThrow(InputError);
  });

  it("accepts the --json envelope of 'vfio-mig params'", async () => {
    const list = await fixtureList('gpu-a-8GB.json');
    const envelope = {apiVersion: 'vfio-mig/v1', command: 'params', status: 'ok', exitCode: 0, result: list};
    expect(validateParamList(envelope)).toEqual(list);
  });

  it('names the file when it cannot be read', async () => {
    await expect(readParamListFile('/nonexistent/list.json')).rejects.toThrow(/nonexistent\/list.json: cannot read parameter list: no such file/);
    const text = await readFile(path.join(PARAMS, 'gpu-a-8GB.json'), 'utf8');
    expect((await parseParamList(text)).model).toBe('vendor-a.com/gfx');
  });
});
