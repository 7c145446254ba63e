import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField} from '../cli/render.js';
import {InputError} from '../lib/errors.js';
import {fleetHost} from '../lib/fleet/host.js';
import {writeAtomic} from '../lib/fleet/nfd.js';
import {fleetSource} from '../lib/fleet/source.js';
import {DEFAULT_PROVIDER_CONFIG, extraSpecsFor, hostTraits, type ProviderConfig, providerConfig} from '../lib/fleet/traits.js';
import {hostFacts} from '../lib/fleet/units.js';

export type TraitsResult =
  | {mode: 'provider-config'; host: string; file: string | null; traits: string[]; config: ProviderConfig}
  | {mode: 'extra-specs'; source: {host: string; device: string; model: string}; extra_specs: Record<string, 'required'>; not_expressed: string[]};

export default class Traits extends BaseCommand<typeof Traits, TraitsResult> {
  static override summary = "Write this host's Nova provider config with CUSTOM_ traits, or print a source's flavor extra specs.";
  static override description =
    'Without --source: the provider config YAML (/etc/nova/provider_config/) giving this compute node ($COMPUTE_NODE, or --provider-name) traits for the models, v4 versions and bool parameter values it can take, and for devices judged by identity the equality facts the rule sets compare. With --source: the flavor extra specs (trait:CUSTOM_X=required) a source needs. Traits cannot express integer ranges, string values, version ranges (at_least), excluded pairs, one of several compatible branches, that the facts hold on one type, or free capacity: those are listed and left to `vfio-mig compat` at pre-migration.' + exitCodes({0: 'written', 3: 'a write error'});
  static override examples = [
    '<%= config.bin %> traits',
    '<%= config.bin %> traits --out - --inventory gpu-a.json',
    '<%= config.bin %> traits --source src.json',
  ];

  static override flags = {
    out: Flags.string({char: 'o', default: DEFAULT_PROVIDER_CONFIG, description: 'the provider config file to write, or - for stdout'}),
    inventory: Flags.string({description: 'describe this inventory file instead of the live host'}),
    host: Flags.string({description: "the host name (default: the host's or the inventory's)"}),
    'provider-name': Flags.string({description: 'identify the provider by name instead of $COMPUTE_NODE'}),
    source: Flags.string({description: 'print the flavor extra specs for this device, parameter list or stream header instead'}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, consulted before <root>/etc/vfio-mig/rules.d and the shipped ones (use the same on every host)'}),
  };

  protected async execute(): Promise<Outcome<TraitsResult>> {
    const {out, inventory, host, source, rules: extra} = this.flags;
    const {loadRuleSets, identityLabel} = await import('../lib/rules/index.js');
    const rules = await loadRuleSets({sysfs: this.sysfs(), ...(extra ? {extra} : {})});
    const providerName = this.flags['provider-name'];
    if (source !== undefined) {
      const list = await fleetSource(source, {sysfs: this.sysfs(), ...(host === undefined ? {} : {host})});
      const specs = extraSpecsFor(list, rules);
      const model = list.scheme === 'none' ? identityLabel(list.identity) : list.model;
      const result: TraitsResult = {mode: 'extra-specs', source: {host: list.source.host, device: list.source.device, model}, ...specs};
      return {
        result,
        exitCode: 0,
        human: () =>
          [
            ...Object.entries(specs.extra_specs).map(([k, v]) => `${k}=${v}`),
            '# not checked by traits; `vfio-mig compat` checks them at pre-migration:',
            ...specs.not_expressed.map((n) => `#   ${escapeField(n)}`),
          ].join('\n'),
      };
    }
    if (providerName !== undefined && !/^[\x21-\x7e][\x20-\x7e]{0,199}$/.test(providerName)) {
      throw new InputError(`--provider-name: give a printable name of at most 200 characters`, 'USAGE');
    }
    const inv = await fleetHost(this.sysfs(), {...(inventory === undefined ? {} : {inventory}), ...(host === undefined ? {} : {host})});
    const traits = hostTraits(hostFacts(inv, rules));
    const config = providerConfig(traits, providerName === undefined ? undefined : {name: providerName});
    const {toYaml} = await import('../lib/format/yaml.js');
    const text = `# vfio-mig traits for ${escapeField(inv.host)}: written by \`vfio-mig traits\`; do not edit.\n${toYaml(config)}`;
    const file = out === '-' ? null : await writeAtomic((await import('node:path')).dirname(out), (await import('node:path')).basename(out), text);
    const result: TraitsResult = {mode: 'provider-config', host: inv.host, file, traits, config};
    return {
      result,
      exitCode: 0,
      human: () => (file === null ? text : `wrote ${escapeField(file)}: ${traits.length} traits for ${escapeField(inv.host)}`),
    };
  }
}
