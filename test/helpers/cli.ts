import {spawnSync} from 'node:child_process';
import {cp, mkdtemp} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import type {ValidateFunction} from 'ajv';

import * as validators from '../../src/lib/schema/generated/output-validators.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const fixtureHost = (name: string): string => path.join(repoRoot, 'fixtures/hosts', name);
export const fixture = (...parts: string[]): string => path.join(repoRoot, 'fixtures', ...parts);

export interface CliRun {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Run the built CLI (`npm run build` first) as a user would, in a subprocess. */
export function runCli(args: string[], options: {env?: Record<string, string>; input?: string | Buffer; cwd?: string} = {}): CliRun {
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run.js'), ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: 'utf8',
    input: options.input,
    env: {...process.env, NODE_OPTIONS: '', VFIO_MIG_SYSFS_ROOT: '', ...options.env},
    timeout: 60_000,
  });
  return {stdout: result.stdout, stderr: result.stderr, code: result.status};
}

function schemaErrors(validate: ValidateFunction, data: unknown): string {
  return validate(data) ? '' : JSON.stringify(validate.errors, null, 1);
}

/**
 * Parse `--json` output and check it against the envelope schema and the command's result
 * schema (`output/<command with dashes>.schema.json`); returns the envelope.
 */
export function parseEnvelope(run: CliRun, command: string): {status: string; exitCode: number; result?: any; error?: any} {
  let envelope: any;
  try {
    envelope = JSON.parse(run.stdout);
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.stdout.slice(0, 500)} ${run.stderr.slice(0, 500)}`);
  }
  expectNoSchemaErrors(schemaErrors(validators.output_envelope, envelope));
  expect(envelope.command).toBe(command);
  expect(envelope.exitCode).toBe(run.code);
  if (envelope.result !== undefined) {
    const name = `output_${command
      .split(' ')
      .map((part, i) => (i === 0 ? part : part))
      .join('-')
      .replace(/-([a-z0-9])/g, (_m: string, c: string) => c.toUpperCase())}`;
    const validate = (validators as Record<string, ValidateFunction>)[name];
    if (!validate) throw new Error(`no output schema ${name}`);
    expectNoSchemaErrors(schemaErrors(validate, envelope.result));
  }
  return envelope;
}

function expectNoSchemaErrors(errors: string): void {
  expect(errors).toBe('');
}

/** A writable copy of a fixture host (links kept as links). */
export async function copyHost(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `vfio-mig-${name}-`));
  await cp(fixtureHost(name), dir, {recursive: true, verbatimSymlinks: true});
  return dir;
}
