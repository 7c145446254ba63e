/**
 * `vfio-mig fsm path`, run in-process (FsmPath.run with the repo's oclif config) with
 * stdout/stderr captured. this.exit() throws oclif's ExitError; its `oclif.exit` is the code.
 */
import {fileURLToPath} from 'node:url';

import FsmPath from '../../src/commands/fsm/path.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

async function run(argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const origOut = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  let code = 0;
  try {
    await FsmPath.run(argv, root);
  } catch (err) {
    const exit = (err as {oclif?: {exit?: number}}).oclif?.exit;
    if (typeof exit !== 'number') throw err;
    code = exit;
  } finally {
    process.stdout.write = origOut;
    process.stderr.write = origErr;
  }
  // Node's own one-time ExperimentalWarning (jest's --experimental-vm-modules) is not ours.
  stderr = stderr.replace(/^\(node:\d+\) ExperimentalWarning:.*\n(?:\(Use `node --trace-warnings.*\n)?/m, '');
  return {stdout, stderr, code};
}

test('prints the path as the reference table writes it (exit 0)', async () => {
  const r = await run(['RUNNING', 'STOP_COPY', '--flags', 'stop_copy,p2p']);
  expect(r).toEqual({stdout: 'RUNNING -> RUNNING_P2P -> STOP -> STOP_COPY\n', stderr: '', code: 0});
});

test('lower-case names, numeric flags, 6.1', async () => {
  expect((await run(['pre_copy', 'stop', '--flags', '0x5'])).stdout).toBe('PRE_COPY -> RUNNING -> STOP\n');
  expect((await run(['4', '2', '--flags', '0x3', '--kernel', '6.1'])).stdout).toBe(
    'RESUMING -> STOP -> RUNNING_P2P -> RUNNING\n',
  );
  expect((await run(['stop', 'stop', '--flags', 'stop_copy'])).stdout).toBe('STOP\n');
});

test('--json on a path', async () => {
  const r = await run(['RUNNING', 'STOP_COPY', '--flags', 'stop_copy', '--json']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({
    apiVersion: 'vfio-mig/v1',
    command: 'fsm path',
    status: 'ok',
    exitCode: 0,
    result: {
      from: 'RUNNING',
      to: 'STOP_COPY',
      kernel: 'latest',
      migration_flags: 1,
      migration_flag_names: ['STOP_COPY'],
      rejected: false,
      states: ['RUNNING', 'STOP', 'STOP_COPY'],
      arcs: [
        {from: 'RUNNING', to: 'STOP'},
        {from: 'STOP', to: 'STOP_COPY'},
      ],
      opens_data_session: true,
    },
  });
});

test('a rejected pair: one line with the reason, exit 1', async () => {
  const r = await run(['STOP_COPY', 'PRE_COPY', '--flags', 'stop_copy,p2p,pre_copy']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('');
  expect(r.stdout.split('\n')).toHaveLength(2);
  expect(r.stdout).toMatch(/^STOP_COPY -> PRE_COPY rejected \(-EINVAL\): .*invalid.*loop forever/);
});

test('a rejected pair with --json: rejected true and a reason', async () => {
  const r = await run(['STOP_COPY', 'PRE_COPY_P2P', '--flags', '0x7', '--json']);
  expect(r.code).toBe(1);
  const env = JSON.parse(r.stdout);
  expect(env).toMatchObject({status: 'no', exitCode: 1});
  expect(env.result).toMatchObject({
    from: 'STOP_COPY',
    to: 'PRE_COPY_P2P',
    rejected: true,
    code: 'BLOCKED_ARC',
    errno: 'EINVAL',
    kernel_hangs: true,
  });
  expect(typeof env.result.reason).toBe('string');
});

test('6.1 with pre_copy is rejected (exit 1)', async () => {
  const r = await run(['RUNNING', 'STOP', '--flags', 'stop_copy,pre_copy', '--kernel', '6.1']);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/no PRE_COPY/);
});

test('unknown state or flag: input error, exit 2', async () => {
  const bad = await run(['RUNNING', 'STOPCOPY', '--flags', 'stop_copy']);
  expect(bad.code).toBe(2);
  expect(bad.stdout).toBe('');
  expect(bad.stderr).toMatch(/^vfio-mig: unknown VFIO migration state: 'STOPCOPY'/);

  const flag = await run(['RUNNING', 'STOP', '--flags', 'stop_copy,dirty', '--json']);
  expect(flag.code).toBe(2);
  expect(JSON.parse(flag.stdout)).toMatchObject({status: 'error', exitCode: 2, error: {code: 'UNKNOWN_FLAG'}});
});

test('missing --flags or a bad --kernel is a usage error (exit 2)', async () => {
  expect((await run(['RUNNING', 'STOP'])).code).toBe(2);
  expect((await run(['RUNNING', 'STOP', '--flags', '1', '--kernel', '5.15'])).code).toBe(2);
});
