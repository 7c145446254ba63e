import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField} from '../cli/render.js';
import {InputError, RuntimeFailure} from '../lib/errors.js';
import {fleetHost} from '../lib/fleet/host.js';
import {DEFAULT_MAX_UNITS, hostLabels, TooManyUnits} from '../lib/fleet/labels.js';
import {LABEL_NAMESPACE} from '../lib/fleet/names.js';
import {DEFAULT_FEATURES_DIR, parseDuration, renderFeatureFile, writeAtomic} from '../lib/fleet/nfd.js';
import {hostFacts} from '../lib/fleet/units.js';

export interface LabelsResult {
  host: string;
  /** The file written, or null for `--out -`. */
  file: string | null;
  bytes: number;
  expiry: string;
  units: number;
  labels: Record<string, string>;
}

export default class Labels extends BaseCommand<typeof Labels, LabelsResult> {
  static override summary = "Write this host's Kubernetes node labels (an NFD feature file): what it can take, for `vfio-mig affinity`.";
  static override description =
    'Labels in the vfio-mig.dev/ namespace for every offered type and model, and per unit (one combination of model and allowed parameter values, or a device identity judged by the rule sets in force) its free destinations and the facts compatibility compares (docs/fleet.md). Written atomically (a dot-file renamed into place), under 64 KiB, with `# +expiry-time`.' + exitCodes({0: 'written', 3: 'the labels cannot be written (more units than --max-units, over 64 KiB, a write error; the old file is left as it was)'});
  static override examples = [
    '<%= config.bin %> labels',
    '<%= config.bin %> labels --out - --inventory gpu-a.json',
    `<%= config.bin %> labels --out ${DEFAULT_FEATURES_DIR} --expiry 30m`,
  ];

  static override flags = {
    out: Flags.string({char: 'o', default: DEFAULT_FEATURES_DIR, description: 'directory of NFD local feature files, or - for stdout'}),
    name: Flags.string({default: 'vfio-mig', description: 'file name in --out (no dot-file: NFD ignores those)'}),
    expiry: Flags.string({default: '1h', description: 'labels expire this long after writing unless refreshed (e.g. 90m, 2h)'}),
    inventory: Flags.string({description: 'describe this inventory file instead of the live host'}),
    host: Flags.string({description: "the host name (default: the host's or the inventory's)"}),
    'max-units': Flags.integer({min: 1, max: 1000, default: DEFAULT_MAX_UNITS, description: 'refuse hosts with more units than `affinity --max-units` tests'}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, consulted before <root>/etc/vfio-mig/rules.d and the shipped ones (use the same on every host)'}),
  };

  protected async execute(): Promise<Outcome<LabelsResult>> {
    const {out, name, expiry, inventory, host, rules: extra} = this.flags;
    const lifetime = parseDuration(expiry);
    if (lifetime === undefined) throw new InputError(`--expiry ${expiry}: not a duration; give e.g. 30m, 2h or 1h30m`, 'USAGE');
    if (name.startsWith('.') || name.includes('/') || name === '') throw new InputError(`--name ${name}: give a plain file name that does not start with a dot`, 'USAGE');
    const inv = await fleetHost(this.sysfs(), {...(inventory === undefined ? {} : {inventory}), ...(host === undefined ? {} : {host})});
    // Identity units carry what the rule sets in force compare (src/lib/rules/terms.ts).
    const {loadRuleSets} = await import('../lib/rules/index.js');
    const facts = hostFacts(inv, await loadRuleSets({sysfs: this.sysfs(), ...(extra ? {extra} : {})}));
    let labels: Map<string, string>;
    try {
      labels = hostLabels(facts, this.flags['max-units']);
    } catch (error) {
      if (error instanceof TooManyUnits) throw new RuntimeFailure(`${error.message}; raise --max-units here and in \`vfio-mig affinity\``, 'TOO_MANY_UNITS');
      throw error;
    }
    const now = new Date();
    const expires = new Date(now.getTime() + lifetime);
    const text = renderFeatureFile(labels, {host: inv.host, expiry: expires, generated: now});
    const file = out === '-' ? null : await writeAtomic(out, name, text);
    const result: LabelsResult = {
      host: inv.host,
      file,
      bytes: Buffer.byteLength(text),
      expiry: expires.toISOString(),
      units: facts.units.length,
      labels: Object.fromEntries([...labels].map(([k, v]) => [`${LABEL_NAMESPACE}/${k}`, v])),
    };
    return {
      result,
      exitCode: 0,
      human: () =>
        file === null
          ? text
          : `wrote ${escapeField(file)}: ${labels.size} labels for ${escapeField(inv.host)}, ${facts.units.length} units, ${result.bytes} bytes, expires ${result.expiry}`,
    };
  }
}
