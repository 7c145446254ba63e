import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField} from '../cli/render.js';
import {type AffinityResult, affinityFor} from '../lib/fleet/affinity.js';
import {DEFAULT_MAX_UNITS} from '../lib/fleet/labels.js';
import {fleetSource} from '../lib/fleet/source.js';
import {sourceRef, type SourceRef} from '../lib/compat/index.js';

export interface AffinityCommandResult extends AffinityResult {
  source: SourceRef;
}

export default class Affinity extends BaseCommand<typeof Affinity, AffinityCommandResult> {
  static override summary = 'Print the Kubernetes nodeAffinity that selects exactly the hosts whose vfio-mig labels can take a source.';
  static override description =
    'For a source device, parameter list or stream header: a required nodeAffinity (YAML, for spec.affinity) whose terms test the labels `vfio-mig labels` writes, with the rules select applies: vendor metadata, else the rule set for the source identity (docs/fleet.md). A source whose rule set cannot be written as label terms (an at_least version of more than 3 parts, or a part of 10^6 or more) is an input error (exit 2): use select. --max-units must be at least the largest `vfio-mig.dev/units` in the fleet.' + exitCodes({0: 'the affinity written', 1: 'no host can take the source whatever it offers (the affinity then matches no node)'});
  static override examples = [
    '<%= config.bin %> affinity --source src.json',
    '<%= config.bin %> affinity --source cb422412-cf4b-4ce8-b578-bf742f23d32d',
    '<%= config.bin %> affinity --source header.json --json',
  ];

  static override flags = {
    source: Flags.string({required: true, description: 'a device (UUID/BDF), a parameter list file, or a stream header file (- for stdin)'}),
    inventory: Flags.string({multiple: true, description: 'look a source device up in these inventory files'}),
    host: Flags.string({description: 'the name of this host (a live source device)'}),
    'max-units': Flags.integer({min: 1, max: 1000, default: DEFAULT_MAX_UNITS, description: 'one term per unit index: the largest unit count any host labels'}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, consulted before <root>/etc/vfio-mig/rules.d and the shipped ones (use the same on every host)'}),
  };

  protected async execute(): Promise<Outcome<AffinityCommandResult>> {
    const {source, inventory, host, rules: extra} = this.flags;
    const inventories = inventory === undefined ? undefined : await (await import('../lib/inventory/index.js')).readInventoryFiles(inventory);
    const list = await fleetSource(source, {sysfs: this.sysfs(), ...(inventories ? {inventories} : {}), ...(host === undefined ? {} : {host})});
    const {ruleSetsFor, identityLabel} = await import('../lib/rules/index.js');
    const rules = (await ruleSetsFor(list, {sysfs: this.sysfs(), ...(extra ? {extra} : {})})) ?? [];
    const result: AffinityCommandResult = {source: sourceRef(list), ...affinityFor(list, this.flags['max-units'], rules)};
    const what = list.scheme === 'none' ? `${identityLabel(list.identity)} (rule set ${result.rule_set ?? 'none'})` : list.model;
    const {toYaml} = await import('../lib/format/yaml.js');
    return {
      result,
      exitCode: result.satisfiable ? 0 : 1,
      human: () => {
        const head = `# vfio-mig affinity for ${escapeField(what)} from ${escapeField(list.source.host)} ${escapeField(list.source.device)}`;
        const why = result.satisfiable ? [] : [`# no host can take it: ${escapeField(result.reason ?? '')}`];
        return [head, ...why, toYaml({nodeAffinity: result.nodeAffinity}).trimEnd()].join('\n');
      },
    };
  }
}
