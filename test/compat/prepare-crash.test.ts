/**
 * Real `vfio-mig prepare` processes (run `npm run build` first): two racing, one held between
 * taking the lock and filling it; one SIGKILLed between two writes, then rolled back by the
 * next command. The pauses come from the documented test hook VFIO_MIG_TEST_PAUSE (ignored
 * for the root `/`); the process says on stderr when it is paused.
 */
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {readFile, stat} from 'node:fs/promises';
import path from 'node:path';

import {copyHost, GPU_B_8GB_DEV, mdevMigrationDir, migrationValues, PARAMS, REPO, schemaValid} from './helpers.js';

const B_DIR = mdevMigrationDir(GPU_B_8GB_DEV);
const B_BEFORE = {ecc: '1', encoder: '0', hdr: '1', memory: '8192', profile: 'v2', queues: '4'};
const LIST = path.join(PARAMS, 'gpu-a-8GB.json');

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], pause?: string): {child: ChildProcessWithoutNullStreams; paused: Promise<void>; done: Promise<Done>} {
  const env: NodeJS.ProcessEnv = {...process.env, NODE_OPTIONS: ''};
  delete env.VFIO_MIG_TEST_PAUSE;
  if (pause !== undefined) env.VFIO_MIG_TEST_PAUSE = pause;
  const child = spawn(process.execPath, [path.join(REPO, 'bin/run.js'), ...args], {cwd: REPO, env});
  let stdout = '';
  let stderr = '';
  let markPaused: () => void = () => undefined;
  const paused = new Promise<void>((r) => (markPaused = r));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('vfio-mig: test pause at')) markPaused();
  });
  child.stdin.end();
  const done = new Promise<Done>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({code, signal, stdout, stderr}));
  });
  const pausedOrExited = Promise.race([paused, done.then((d) => Promise.reject(new Error(`exited before pausing: ${JSON.stringify(d)}`)))]);
  pausedOrExited.catch(() => undefined); // awaited only by callers that asked for a pause
  return {child, paused: pausedOrExited, done};
}

let hosts: Awaited<ReturnType<typeof copyHost>>[] = [];
beforeAll(() => {
  if (!existsSync(path.join(REPO, 'dist/vfio-mig.js'))) throw new Error('run `npm run build` before the CLI tests');
});
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.cleanup()));
  hosts = [];
});
async function host() {
  const h = await copyHost('gpu-b');
  hosts.push(h);
  return h;
}

describe('vfio-mig prepare processes', () => {
  it('race: one prepare held between taking and filling the lock; the other is refused (exit 3), exactly one proceeds', async () => {
    const h = await host();
    const args = ['prepare', GPU_B_8GB_DEV, '--params', LIST, '--sysfs-root', h.root, '--json'];
    const a = start(args, 'locked:20000');
    await a.paused;
    // The lock file is still empty: an O_EXCL pid file took this as a stale lock.
    expect(await readFile(path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.lock`), 'utf8')).toBe('');
    const b = await start(args).done;
    a.child.kill('SIGUSR2'); // end the pause
    const first = await a.done;
    expect({a: first.code, b: b.code}).toEqual({a: 0, b: 3});
    expect(JSON.parse(b.stdout).error).toMatchObject({code: 'LOCKED'});
    expect(JSON.parse(first.stdout).result).toMatchObject({status: 'prepared', writes: 3});
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0', encoder: '2', hdr: '0'});
  }, 30_000);

  it('a prepare SIGKILLed between two writes is rolled back by the next prepare, which then prepares', async () => {
    const h = await host();
    const a = start(['prepare', GPU_B_8GB_DEV, '--params', LIST, '--sysfs-root', h.root], 'write2:30000');
    await a.paused;
    a.child.kill('SIGKILL');
    expect((await a.done).signal).toBe('SIGKILL');
    // Half prepared, the journal left behind, the lock free again (it died with the process).
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0', encoder: '2'});
    const journal = JSON.parse(await readFile(path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.journal`), 'utf8')) as {pid: number};
    expect(journal.pid).toBe(a.child.pid);

    const b = await start(['prepare', GPU_B_8GB_DEV, '--params', LIST, '--sysfs-root', h.root, '--json']).done;
    expect(b.code).toBe(0);
    const result = JSON.parse(b.stdout).result;
    expect(schemaValid('output_prepare', result)).toBe(true);
    expect(result.recovered).toMatchObject({
      pid: a.child.pid,
      restored: [
        {param: 'encoder', value: 0, ok: true},
        {param: 'ecc', value: true, ok: true},
      ],
    });
    expect(result).toMatchObject({status: 'prepared', writes: 3});
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0', encoder: '2', hdr: '0'});
    await expect(stat(path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.journal`))).rejects.toThrow();
  }, 30_000);

  it('the rollback of a prepare killed after its first write is said in human output', async () => {
    const h = await host();
    const a = start(['prepare', GPU_B_8GB_DEV, '--params', LIST, '--sysfs-root', h.root], 'write1:30000');
    await a.paused;
    a.child.kill('SIGKILL');
    await a.done;
    const next = await start(['prepare', GPU_B_8GB_DEV, '--params', LIST, '--sysfs-root', h.root]).done;
    expect(next.code).toBe(0);
    expect(next.stdout.split('\n')[0]).toMatch(new RegExp(`^rolled back an interrupted prepare \\(pid ${a.child.pid}, started [0-9T:.Z-]+\\): restored ecc=true$`));
  }, 30_000);
});
