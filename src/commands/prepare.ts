import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {showValue, table} from '../cli/render.js';
import {readParamListFile} from '../lib/paramlist/index.js';
import {prepareDevice, prepareError, type PrepareResult} from '../lib/prepare/index.js';
import {describeBasis, ruleSetsFor} from '../lib/rules/index.js';
import {reasonLines} from './compat.js';

function render(r: PrepareResult): string {
  const head =
    r.status === 'prepared'
      ? `prepared ${r.device} on ${r.host}: ${r.writes} write(s)`
      : r.status === 'dry_run'
        ? `plan for ${r.device} on ${r.host} (dry run, nothing written): ${r.writes} write(s)`
        : `NOT compatible: ${r.device} on ${r.host}; nothing written`;
  const lines = [head, `basis: ${describeBasis(r.basis)}`];
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
  if (r.reasons.length > 0) lines.push('reasons:', ...reasonLines(r.reasons));
  if (r.warnings.length > 0) lines.push('warnings:', ...reasonLines(r.warnings));
  return lines.join('\n');
}

export default class Prepare extends BaseCommand<typeof Prepare, PrepareResult> {
  static override summary = "Prepare a destination device for a source's parameter list: check, then write one parameter at a time.";
  static override description = [
    'A source without vendor metadata is checked by the rule sets; then there is nothing to write (said so). For each destination parameter: the source value if listed, else its off_value, else keep (reported). Writes in parameter-name order, skips values already right, reads each write back, and holds <root>/run/vfio-mig/<device>.lock while writing.',
    'On a refused write every value already written is restored in reverse order. Exit 0 prepared, 1 not compatible, 2 input error, 3 a write was refused (and rolled back), 5 restoring failed.',
  ].join('\n');
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
    const result = await prepareDevice(sysfs, this.args.device, list, {dryRun: this.flags['dry-run'], ...(host === undefined ? {} : {host}), ...(rules ? {rules} : {})});
    const error = prepareError(result);
    if (error) throw error;
    return {result, exitCode: result.status === 'not_compatible' ? 1 : 0, human: () => render(result)};
  }
}
