import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {Ajv2020} from 'ajv/dist/2020.js';

import {ROOT, ensureEngine, responses, runEngine, tempDir} from './helpers.js';


const load = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path.join(ROOT, 'schemas', name), 'utf8')) as Record<string, unknown>;

const sample = {
  apiVersion: 'vfio-mig/v1',
  kind: 'StreamHeader',
  param_list: {
    apiVersion: 'vfio-mig/v1',
    kind: 'ParamList',
    scheme: 'v3',
    model: 'vendor-a.com/gfx',
    params: {memory: 4096, ecc: true, profile: 'v2'},
    source: {host: 'src-1', device: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', type: 'vgfx-4GB'},
  },
  migration_flags: ['STOP_COPY', 'PRE_COPY'],
  source: {host: 'src-1', device: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', engine_version: '0.1.0'},
  created_at: '2026-11-22T02:00:00Z',
  size_estimate: 1048576,
};

describe('stream-header.schema.json', () => {
  const ajv = new Ajv2020({strict: true, allowUnionTypes: true, allErrors: true});
  ajv.addSchema(load('migration-info.schema.json'));
  ajv.addSchema(load('param-list.schema.json'));
  const validate = ajv.compile(load('stream-header.schema.json'));

  test('has the pinned $id and compiles in strict mode', () => {
    expect(load('stream-header.schema.json').$id).toBe('https://vfio-mig.dev/schemas/stream-header.schema.json');
    expect(validate(sample)).toBe(true);
  });

  test.each([
    ['no STOP_COPY', {...sample, migration_flags: ['P2P']}],
    ['unsafe parameter name', {...sample, param_list: {...sample.param_list, params: {'../x': 1}}}],
    ['v3 list without params', {...sample, param_list: {...sample.param_list, params: undefined}}],
    ['bad source device', {...sample, source: {host: 'h', device: '../x'}}],
    ['unknown field', {...sample, extra: 1}],
    ['negative estimate', {...sample, size_estimate: -1}],
  ])('rejects %s', (_name, bad) => {
    expect(validate(bad)).toBe(false);
  });

  test('a header written by the engine reads back verbatim and still validates', () => {
    ensureEngine();
    const tmp = tempDir();
    try {
      const src = path.join(tmp.dir, 'src');
      const out = path.join(tmp.dir, 'out.vms');
      writeFileSync(src, 'state');
      const text = JSON.stringify(sample);
      const rs = responses(
        runEngine([
          {id: 1, op: 'pack', in_path: src, out_path: out, header: text},
          {id: 2, op: 'load_begin', path: out},
        ]).replies,
      );
      expect(rs[1]?.header).toBe(text);
      expect(validate(JSON.parse(rs[1]?.header as string))).toBe(true);
    } finally {
      tmp.cleanup();
    }
  });
});
