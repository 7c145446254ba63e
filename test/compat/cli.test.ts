/**
 * The built CLI as a subprocess (run `npm run build` first): stdout, stderr, exit codes, and
 * --json output checked against the generated validators (envelope + output/<command>).
 */
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {acquireDeviceLock} from '../../src/lib/prepare/index.js';
import {
  copyHost,
  GPU_A_4GB_DEV,
  GPU_A_8GB_DEV,
  GPU_B_8GB_DEV,
  HOSTS,
  mdevMigrationDir,
  migrationValues,
  PARAMS,
  REPO,
  V4_8GB_DEV,
  schemaValid,
} from './helpers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/run.js'), ...args], {cwd: REPO, env: {...process.env, NODE_OPTIONS: ''}});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}));
    child.stdin.end(input ?? '');
  });
}

function envelope(r: Run, command: string): {status: string; exitCode: number; result?: unknown; error?: {code: string; message: string; details?: Record<string, unknown>}} {
  const doc = JSON.parse(r.stdout) as ReturnType<typeof envelope> & {command: string};
  expect(schemaValid('output_envelope', doc)).toBe(true);
  expect(doc.command).toBe(command);
  expect(doc.exitCode).toBe(r.code);
  if (doc.result !== undefined) expect(schemaValid(`output_${command}`, doc.result)).toBe(true);
  return doc;
}

const hostA = ['--sysfs-root', path.join(HOSTS, 'gpu-a'), '--host', 'gpu-a'];
const hostB = ['--sysfs-root', path.join(HOSTS, 'gpu-b'), '--host', 'gpu-b'];
const list = (name: string) => path.join(PARAMS, name);
let tmp: string;

beforeAll(async () => {
  if (!existsSync(path.join(REPO, 'dist/vfio-mig.js'))) throw new Error('run `npm run build` before the CLI tests');
  tmp = await mkdtemp(path.join(tmpdir(), 'vfio-mig-cli-'));
  for (const h of ['gpu-a', 'gpu-b', 'v4-host']) {
    const r = await run(['inventory', '--sysfs-root', path.join(HOSTS, h), '--host', h, '--out', path.join(tmp, `${h}.json`)]);
    expect(r).toMatchObject({code: 0, stderr: ''});
  }
});
afterAll(() => rm(tmp, {recursive: true, force: true}));

describe('vfio-mig params', () => {
  it('prints the list as JSON, identical to the fixture', async () => {
    const r = await run(['params', GPU_A_8GB_DEV, ...hostA]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(await readFile(list('gpu-a-8GB.json'), 'utf8')));
  });

  it('--json wraps it in the envelope; --out FILE.yaml writes YAML', async () => {
    const j = await run(['params', V4_8GB_DEV, '--sysfs-root', path.join(HOSTS, 'v4-host'), '--host', 'v4-host', '--json']);
    expect(envelope(j, 'params').result).toMatchObject({scheme: 'v4', model: 'org.project/graphics-card', version: '8GB-v2'});
    const out = path.join(tmp, 'src.yaml');
    const y = await run(['params', GPU_A_8GB_DEV, ...hostA, '--out', out]);
    expect(y.stdout).toBe(`wrote ${out}: vendor-a.com/gfx, 4 parameters (from gpu-a ${GPU_A_8GB_DEV})\n`);
    expect(await readFile(out, 'utf8')).toContain('memory: 8192\n');
  });

  it('an unknown device is exit 2', async () => {
    const r = await run(['params', '00000000-0000-0000-0000-000000000000', ...hostA]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vfio-mig: 00000000-0000-0000-0000-000000000000: no such mdev device/);
  });
});

describe('vfio-mig compat', () => {
  it('exit 0 compatible', async () => {
    const r = await run(['compat', '--source', list('gpu-a-8GB.json'), '--dest', 'vgfx-8GB', ...hostB]);
    expect(r).toMatchObject({code: 0, stderr: ''});
    expect(r.stdout).toBe(`compatible: vendor-a.com/gfx from gpu-a ${GPU_A_8GB_DEV} -> gpu-b type 0000:65:00.0/vgfx-8GB\nbasis: vendor metadata\n`);
  });

  it('exit 1 not compatible, with every reason', async () => {
    const r = await run(['compat', '--source', list('gpu-b-16GB.json'), '--dest', 'vgfx-4GB', ...hostA]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('NOT_ALLOWED    memory: 12288 is not in allowed_values [1024-4096]');
    expect(r.stdout).toContain('PARAM_MISSING  hdr: the destination has no such parameter');
    const j = envelope(await run(['compat', '--source', list('gpu-b-16GB.json'), '--dest', 'vgfx-4GB', ...hostA, '--json']), 'compat');
    expect(j.status).toBe('no');
  });

  it('a source device on the live host, a destination device in use', async () => {
    const r = await run(['compat', '--source', GPU_A_4GB_DEV, '--dest', GPU_A_8GB_DEV, ...hostA, '--json']);
    expect(r.code).toBe(1);
    expect(envelope(r, 'compat').result).toMatchObject({reasons: [{code: 'DEVICE_IN_USE', pids: [4242]}]});
  });

  it('offline with --inventory (and --host to pick among hosts)', async () => {
    const invs = ['--inventory', path.join(tmp, 'gpu-a.json'), '--inventory', path.join(tmp, 'gpu-b.json')];
    const amb = await run(['compat', '--source', list('gpu-a-8GB.json'), '--dest', 'vgfx-8GB', ...invs]);
    expect(amb.code).toBe(2);
    expect(amb.stderr).toMatch(/ambiguous/);
    const r = await run(['compat', '--source', list('gpu-a-8GB.json'), '--dest', 'vgfx-8GB', ...invs, '--host', 'gpu-b', '--sysfs-root', '/nonexistent']);
    expect(r.code).toBe(0);
    const v4 = await run(['compat', '--source', list('v4-8GB.json'), '--dest', 'vgfx-4GB', '--inventory', path.join(tmp, 'v4-host.json')]);
    expect(v4.code).toBe(1);
    expect(v4.stdout).toContain('VERSION_NOT_OFFERED  org.project/graphics-card version 8GB-v2 is not offered; the destination offers 4GB-v1, 4GB-v2');
  });

  it.each(['hostile-name-dotdot.json', 'hostile-name-slash.json', 'hostile-name-empty.json'])('%s is exit 2', async (file) => {
    const r = await run(['compat', '--source', list(file), '--dest', 'vgfx-8GB', ...hostA, '--json']);
    expect(r.code).toBe(2);
    expect(envelope(r, 'compat').error).toMatchObject({code: 'BAD_PARAM_LIST'});
  });

  it('a 1 MB value or a value of the wrong JSON type is exit 2', async () => {
    const base = JSON.parse(await readFile(list('gpu-a-8GB.json'), 'utf8')) as {params: Record<string, unknown>};
    for (const [name, value] of [['profile', 'v'.repeat(1 << 20)], ['memory', null], ['memory', [8192]], ['memory', 8192.5]] as const) {
      const file = path.join(tmp, 'bad.json');
      await writeFile(file, JSON.stringify({...base, params: {...base.params, [name]: value}}));
      const r = await run(['compat', '--source', file, '--dest', 'vgfx-8GB', ...hostA]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/not a valid parameter list: \/params\/(profile|memory)/);
    }
  });
});

describe('vfio-mig select', () => {
  it('ranks the fleet and validates against output/select', async () => {
    const r = await run(['select', '--source', list('gpu-a-4GB.json'), '--inventory', path.join(tmp, 'gpu-a.json'), path.join(tmp, 'gpu-b.json'), '--json', '--all']);
    expect(r.code).toBe(0);
    const result = envelope(r, 'select').result as {candidates: {host: string; type_id: string; device: string | null}[]};
    expect(result.candidates[0]).toMatchObject({host: 'gpu-a', type_id: 'vgfx-4GB', device: null});
  });

  it('human table; exit 1 when nothing can take the source', async () => {
    const r = await run(['select', '--source', list('gpu-a-8GB.json'), '--inventory', path.join(tmp, 'gpu-a.json')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1     gpu-a  vgfx-8GB  (new)   2       metadata  best: new vgfx-8GB (vendor metadata): 2 writes (ecc, encoder)');
    const none = await run(['select', '--source', list('v4-8GB.json'), '--inventory', path.join(tmp, 'gpu-a.json')]);
    expect(none.code).toBe(1);
  });

  it('live on the host when no inventory is given', async () => {
    const r = await run(['select', '--source', list('gpu-a-8GB.json'), ...hostB, '--json']);
    expect(r.code).toBe(0);
    expect((envelope(r, 'select').result as {candidates: unknown[]}).candidates).toHaveLength(3);
  });
});

describe('vfio-mig prepare', () => {
  it('--dry-run prints the plan and writes nothing; then prepares (params from stdin)', async () => {
    const h = await copyHost('gpu-b');
    try {
      const dir = mdevMigrationDir(GPU_B_8GB_DEV);
      const before = await migrationValues(h.sysfs, dir);
      const dry = await run(['prepare', GPU_B_8GB_DEV, '--params', list('gpu-a-8GB.json'), '--sysfs-root', h.root, '--host', 'gpu-b', '--dry-run']);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('plan for f5c5eb08-e0c4-4af1-9f9b-533fdc15ae19 on gpu-b (dry run, nothing written): 3 write(s)');
      expect(dry.stdout).toMatch(/ecc\s+write\s+true\s+false\s+off_value/);
      expect(await migrationValues(h.sysfs, dir)).toEqual(before);
      const text = await readFile(list('gpu-a-8GB.json'), 'utf8');
      const r = await run(['prepare', GPU_B_8GB_DEV, '--params', '-', '--sysfs-root', h.root, '--json'], text);
      expect(r.code).toBe(0);
      expect(envelope(r, 'prepare').result).toMatchObject({status: 'prepared', writes: 3});
      expect(await migrationValues(h.sysfs, dir)).toEqual({...before, ecc: '0', encoder: '2', hdr: '0'});
    } finally {
      await h.cleanup();
    }
  });

  it('exit 1 not compatible, exit 2 hostile list, exit 3 locked: nothing written', async () => {
    const h = await copyHost('gpu-a');
    try {
      const dir = mdevMigrationDir(GPU_A_4GB_DEV);
      const before = await migrationValues(h.sysfs, dir);
      const no = await run(['prepare', GPU_A_4GB_DEV, '--params', list('gpu-a-8GB.json'), '--sysfs-root', h.root]);
      expect(no.code).toBe(1);
      expect(no.stdout).toContain('NOT compatible');
      const bad = await run(['prepare', GPU_A_4GB_DEV, '--params', list('hostile-name-dotdot.json'), '--sysfs-root', h.root]);
      expect(bad.code).toBe(2);
      // This process holds the device's flock (and has written its pid into the lock file).
      const lock = await acquireDeviceLock(h.sysfs, GPU_A_4GB_DEV);
      const src = path.join(tmp, 'a4.json');
      await writeFile(src, JSON.stringify({...JSON.parse(await readFile(list('gpu-a-4GB.json'), 'utf8')), params: {memory: 2048, ecc: true, profile: 'v2', queues: 4}}));
      const locked = await run(['prepare', GPU_A_4GB_DEV, '--params', src, '--sysfs-root', h.root, '--json']).finally(() => lock.release());
      expect(locked.code).toBe(3);
      expect(envelope(locked, 'prepare').error).toMatchObject({code: 'LOCKED', details: {pid: process.pid}});
      expect(await migrationValues(h.sysfs, dir)).toEqual(before);
    } finally {
      await h.cleanup();
    }
  });
});
