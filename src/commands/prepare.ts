import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField, showValue, table} from '../cli/render.js';
import {readParamListFile} from '../lib/paramlist/index.js';
import {type PrepareHooks, prepareDevice, prepareError, type PrepareResult} from '../lib/prepare/index.js';
import {describeBasis, ruleSetsFor} from '../lib/rules/index.js';
import type {SysfsRoot} from '../lib/sysfs/root.js';
import {reasonLines} from './compat.js';

/**
 * Test hook: `VFIO_MIG_TEST_PAUSE=locked:MS` holds a prepare for MS ms after taking the lock,
 * before filling it; `write<N>:MS` after its N-th write (tests kill it there). It says so on
 * stderr; SIGUSR2 ends the pause early. Ignored when the sysfs root is `/`: it exists for fixture trees only.
 */
function testHooks(sysfs: SysfsRoot): PrepareHooks | undefined {
  const spec = process.env.VFIO_MIG_TEST_PAUSE;
  const m = spec === undefined ? null : /^(locked|write([1-9]\d*)):(\d{1,6})$/.exec(spec);
  if (m === null || sysfs.root === '/') return undefined;
  const pause = async (point: string): Promise<void> => {
    process.stderr.write(`vfio-mig: test pause at ${point} (pid ${process.pid})\n`);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        process.removeListener('SIGUSR2', done);
        resolve();
      };
      const timer = setTimeout(done, Number(m[3]));
      process.once('SIGUSR2', done);
    });
  };
  if (m[2] === undefined) return {locked: () => pause('locked')};
  return {written: async (n) => (n === Number(m[2]) ? pause(m[1] ?? 'write') : undefined)};
}

function render(r: PrepareResult): string {
  const head =
    r.status === 'prepared'
      ? `prepared ${r.device} on ${escapeField(r.host)}: ${r.writes} write(s)`
      : r.status === 'dry_run'
        ? `plan for ${r.device} on ${escapeField(r.host)} (dry run, nothing written): ${r.writes} write(s)`
        : `NOT compatible: ${r.device} on ${escapeField(r.host)}; nothing written`;
  const lines = [head, `basis: ${escapeField(describeBasis(r.basis))}`];
  if (r.compatible && r.scheme === 'none') lines.push('nothing to write: the driver publishes no migration parameters; its own header check decides at RESUMING');
  if (r.steps.length > 0) {
    lines.push(
      table(
        ['PARAM', 'ACTION', 'CURRENT', 'TARGET', 'FROM', ...(r.status === 'prepared' ? ['OUTCOME'] : [])],
        r.steps.map((s) => [
          s.param,
          s.action,
          s.current === null ? '?' : showValue(s.current),
          s.target === null ? '?' : showValue(s.target),
          s.source,
          ...(r.status === 'prepared' ? [s.outcome ?? '-'] : []),
        ]),
      ),
    );
  }
  if (r.recovered) {
    const done = r.recovered.restored.map((e) => `${e.param}=${showValue(e.value)}`).join(', ') || 'nothing had changed';
    lines.unshift(`rolled back an interrupted prepare (pid ${r.recovered.pid}, started ${r.recovered.started}): restored ${done}`);
  }
  if (r.interrupted) {
    const from = r.interrupted.steps.map((e) => `${e.param}=${e.from === null ? '?' : showValue(e.from)}`).join(', ');
    lines.push(
      `an interrupted prepare (pid ${r.interrupted.pid}, started ${r.interrupted.started}) left ${r.interrupted.journal}: the next prepare first restores what differs of ${from}`,
    );
  }
  if (r.reasons.length > 0) lines.push('reasons:', ...reasonLines(r.reasons));
  if (r.warnings.length > 0) lines.push('warnings:', ...reasonLines(r.warnings));
  return lines.join('\n');
}

export default class Prepare extends BaseCommand<typeof Prepare, PrepareResult> {
  static override summary = "Prepare a destination device for a source's parameter list: check, then write one parameter at a time.";
  static override description = [
    'A source without vendor metadata is checked by the rule sets; then there is nothing to write (said so).',
    'For each destination parameter: the source value if listed, else its off_value, else keep (reported). Writes in parameter-name order, skips values already right, reads each write back, and holds an flock on <root>/run/vfio-mig/<device>.lock while writing.',
    'Before its first write it records the old and new values in <root>/run/vfio-mig/<device>.journal; on a refused write every value already written is restored in reverse order. A prepare that died half-way (its journal left behind) is rolled back first, by the next prepare.',
  ].join('\n') + exitCodes({0: 'prepared (with --dry-run: the plan)', 1: 'not compatible: nothing written', 3: 'a write was refused (every value written was restored) or the device is locked by another prepare', 5: 'restoring failed: the values to restore are named'});
  static override examples = [
    '<%= config.bin %> prepare 50042111-191b-421a-9586-d94555853d83 --params src.json --dry-run',
    'ssh src vfio-mig params cb422412-cf4b-4ce8-b578-bf742f23d32d | <%= config.bin %> prepare 50042111-191b-421a-9586-d94555853d83 --params -',
  ];

  static override args = {
    device: Args.string({required: true, description: 'the destination device: an mdev UUID or a PCI address'}),
  };

  static override flags = {
    params: Flags.string({required: true, description: 'the parameter list file (- for stdin)'}),
    'dry-run': Flags.boolean({description: 'print the plan (write/skip/keep per parameter) and write nothing'}),
    host: Flags.string({description: 'the name of this host in the report'}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, consulted before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
  };

  protected async execute(): Promise<Outcome<PrepareResult>> {
    const {params, host, rules: extra} = this.flags;
    const list = await readParamListFile(params);
    const sysfs = this.sysfs();
    const rules = await ruleSetsFor(list, {sysfs, ...(extra ? {extra} : {})});
    const hooks = testHooks(sysfs);
    const result = await prepareDevice(sysfs, this.args.device, list, {
      dryRun: this.flags['dry-run'],
      ...(host === undefined ? {} : {host}),
      ...(hooks === undefined ? {} : {hooks}),
      ...(rules ? {rules} : {}),
    });
    // Not compatible is a verdict (exit 1) shown with its reasons, not an error envelope.
    const error = result.status === 'not_compatible' ? undefined : prepareError(result);
    if (error) throw error;
    return {result, exitCode: result.status === 'not_compatible' ? 1 : 0, human: () => render(result)};
  }
}
