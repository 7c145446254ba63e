/**
 * The package is what users run: `npm pack`, then `npm install <tarball>` in an empty
 * directory without install scripts, then the installed CLI and library. Fixtures are not in
 * the package, so --sysfs-root points at the checkout's. Dependencies (ajv, ajv-formats,
 * yaml) come from the local npm cache where `npm ci` put them (--prefer-offline: the
 * registry only for what the cache lacks).
 */
import {spawnSync, type SpawnSyncReturns} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {tempDir} from '../engine/helpers.js';
import {fixture, fixtureHost, parseEnvelope, repoRoot} from '../helpers/cli.js';
import {ensurePrebuilt} from './helpers.js';

const MISSING = '00000000-0000-4000-8000-000000000000';
let tmp: {dir: string; cleanup: () => void};
let app: string;
let pkgDir: string;
let packed: {filename: string; size: number; unpackedSize: number; files: {path: string; mode: number}[]};
const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {version: string}).version;

function sh(cmd: string, args: string[], options: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): SpawnSyncReturns<string> {
  // NODE_OPTIONS: jest's --experimental-vm-modules is not for npm or the CLI.
  return spawnSync(cmd, args, {encoding: 'utf8', timeout: 180_000, ...options, env: {...process.env, NODE_OPTIONS: '', VFIO_MIG_SYSFS_ROOT: '', VFIO_MIG_ENGINE: '', ...options.env}});
}
function ok(r: SpawnSyncReturns<string>): string {
  if (r.status !== 0) throw new Error(`exit ${r.status} ${String(r.error ?? '')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
/** The installed CLI through npm's bin link, as a user runs it. */
function vfioMig(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = sh(path.join(app, 'node_modules/.bin/vfio-mig'), args, {cwd: app, env});
  return {stdout: r.stdout, stderr: r.stderr, code: r.status};
}

beforeAll(() => {
  ensurePrebuilt();
  tmp = tempDir('vfio-mig-package-');
  packed = (JSON.parse(ok(sh('npm', ['pack', '--json', '--pack-destination', tmp.dir], {cwd: repoRoot}))) as (typeof packed)[])[0] as typeof packed;
  app = path.join(tmp.dir, 'app');
  mkdirSync(app);
  ok(sh('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp.dir, packed.filename)], {cwd: app}));
  pkgDir = path.join(app, 'node_modules/vfio-mig');
}, 180_000);
afterAll(() => tmp?.cleanup());

describe('the packed package', () => {
  test('holds the CLI bundle, the library, schemas, the engine source and both prebuilt engines (755), nothing else', () => {
    const files = packed.files.map((f) => f.path).sort();
    const tops = [...new Set(files.map((f) => f.split('/').slice(0, f.startsWith('schemas/') || f.startsWith('rules/') ? 1 : 2).join('/')))].sort();
    expect(tops).toEqual([
      'README.md',
      'bin/run.js',
      'dist/lib',
      'dist/vfio-mig.js',
      'engine/Makefile',
      'engine/prebuilt',
      'engine/src',
      'oclif.manifest.json',
      'package.json',
      'rules',
      'schemas',
    ]);
    for (const arch of ['x64', 'arm64']) {
      expect(packed.files).toContainEqual(expect.objectContaining({path: `engine/prebuilt/linux-${arch}/vfio-mig-engine`, mode: 0o755}));
    }
    expect(files.filter((f) => /\.test\.|\/obj\/|\.o$|\.tmp$|\.tgz$/.test(f))).toEqual([]);
    // The figures the closing note quotes; a bound so a stray directory shows.
    console.log(`package: ${packed.files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);
    expect(packed.size).toBeLessThan(2_000_000);
  });
});

describe('installed with npm install --ignore-scripts', () => {
  test('--version', () => {
    expect(vfioMig(['--version']).stdout).toMatch(new RegExp(`^vfio-mig/${version.replace(/\./g, '\\.')} linux-${process.arch} node-v`));
  });

  test('types on a fixture host (--json, schema-checked)', () => {
    const run = vfioMig(['types', '--sysfs-root', fixtureHost('gpu-a'), '--json']);
    const env = parseEnvelope(run, 'types');
    expect(env.status).toBe('ok');
    expect((env.result.types as {id: string}[]).map((t) => t.id).sort()).toEqual(['vgfx-4GB', 'vgfx-8GB']);
  });

  test('the shipped rule sets decide for a device without vendor metadata (mtty)', () => {
    const args = ['compat', '--source', '1e4c93a6-6a3f-4b8e-9c2d-5f7a8b9c0d1e', '--dest', 'mtty-1', '--sysfs-root', fixtureHost('mtty')];
    const run = vfioMig(args);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^basis: rule set mtty \(rules\/mtty\.yaml, shipped\)$/m);
    // The rule set read is the installed package's own file, not the checkout's.
    const env = parseEnvelope(vfioMig([...args, '--json']), 'compat');
    expect((env.result.basis as {file: string}).file).toMatch(/node_modules\/vfio-mig\/rules\/mtty\.yaml$/);
  });

  test("the library: import {...} from 'vfio-mig' in the installing project (ajv from its dependencies)", () => {
    const code =
      "import {SysfsRoot, readTypes, validateFile} from 'vfio-mig';" +
      'const types = await readTypes(new SysfsRoot(process.argv[1]));' +
      'const checked = await validateFile(process.argv[2], {});' +
      "console.log(types.map((t) => t.id).sort().join(','), checked.valid, checked.problems[0].message);";
    const r = sh(process.execPath, ['--input-type=module', '-e', code, fixtureHost('gpu-a'), fixture('metadata/bad-range-min-gt-max.json')], {cwd: app});
    expect([r.stderr, r.stdout]).toEqual(['', 'vgfx-4GB,vgfx-8GB false range "8-2" has min > max\n']);
  });

  test("the migrate commands use the package's prebuilt engine for this architecture", () => {
    const env = parseEnvelope(vfioMig(['engine', 'path', '--json'], {XDG_DATA_HOME: path.join(tmp.dir, 'data')}), 'engine path');
    expect(env.result).toMatchObject({source: 'prebuilt', path: path.join(pkgDir, 'engine/prebuilt', `linux-${process.arch}`, 'vfio-mig-engine')});
    expect(env.result.version).toMatch(/^vfio-mig-engine \d+\.\d+\.\d+ \(protocol 1,/);
  });

  test('migrate verify through the prebuilt engine: 100 zero bytes are no stream, exit 3', () => {
    const zeros = path.join(tmp.dir, 'zeros.vfm');
    writeFileSync(zeros, Buffer.alloc(100));
    const run = vfioMig(['migrate', 'verify', '--in', zeros]);
    expect([run.code, run.stderr]).toEqual([3, 'vfio-mig: stream corrupt at byte 0: bad magic (not a vfio-mig stream)\n']);
  });

  test('migrate caps on a missing device: a clean error, exit 2 (not "engine not found")', () => {
    const run = vfioMig(['migrate', 'caps', MISSING, '--sysfs-root', fixtureHost('gpu-a')]);
    expect(run.code).toBe(2);
    // The CLI finds the missing device itself (issue #12 item 7), before it starts the engine.
    expect(run.stderr).toBe(`vfio-mig: ${MISSING}: no such mdev device under ${fixtureHost('gpu-a')}/sys/bus/mdev/devices; see 'vfio-mig list'\n`);
  });

  test('engine build: compiles the shipped source into $XDG_DATA_HOME, outside the package; then it is used', () => {
    const data = path.join(tmp.dir, 'data');
    const env = parseEnvelope(vfioMig(['engine', 'build', '--json'], {XDG_DATA_HOME: data}), 'engine build');
    const built = path.join(data, 'vfio-mig/engine', version, `linux-${process.arch}`, 'vfio-mig-engine');
    expect(env.result).toMatchObject({path: built, cc: 'cc', selftest: expect.stringMatching(/failures=0$/)});
    expect(existsSync(path.join(pkgDir, 'engine/build'))).toBe(false);
    expect(parseEnvelope(vfioMig(['engine', 'path', '--json'], {XDG_DATA_HOME: data}), 'engine path').result).toMatchObject({source: 'user', path: built});
    const run = vfioMig(['migrate', 'caps', MISSING, '--sysfs-root', fixtureHost('gpu-a')], {XDG_DATA_HOME: data});
    expect([run.code, run.stderr]).toEqual([2, expect.stringMatching(/^vfio-mig: .*: no such mdev device under /)]);
  });
});
