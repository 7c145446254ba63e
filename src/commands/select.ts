import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField, table} from '../cli/render.js';
import {resolveSource} from '../lib/compat/resolve.js';
import {readInventory} from '../lib/enumerate/index.js';
import {readInventoryFiles} from '../lib/inventory/index.js';
import {type Basis, describeBasis, ruleSetsFor} from '../lib/rules/index.js';
import {type SelectResult, selectDestinations} from '../lib/select/index.js';
import {sourceLabel} from './compat.js';

/** `metadata`, `rules:mtty`, `default`. */
function shortBasis(b: Basis): string {
  return b.kind === 'vendor_metadata' ? 'metadata' : b.kind === 'default_rule' ? 'default' : `rules:${b.rule_set ?? '?'}`;
}

function render(r: SelectResult, all: boolean): string {
  const src = `${escapeField(sourceLabel(r.source))} from ${escapeField(r.source.host)} ${escapeField(r.source.device)}`;
  const lines = [
    `source: ${src}`,
    `considered ${r.considered.hosts} host(s), ${r.considered.types} type(s), ${r.considered.devices} device(s): ${r.considered.candidates} candidate(s)${r.candidates.length < r.considered.candidates ? `, best ${r.candidates.length} shown` : ''}`,
  ];
  if (r.candidates.length > 0) {
    lines.push(
      table(
        ['RANK', 'HOST', 'TYPE', 'DEVICE', 'WRITES', 'BASIS', 'REASON'],
        r.candidates.map((c) => [
          String(c.rank),
          c.host,
          c.type_id === null ? '-' : `${c.type_id}`,
          c.device ?? '(new)',
          String(c.writes),
          shortBasis(c.basis),
          c.reason,
        ]),
      ),
    );
  }
  for (const c of r.candidates) for (const w of c.warnings) lines.push(`warning #${c.rank}: ${w.code} ${escapeField(w.message)}`);
  if (all && r.rejected) {
    lines.push('rejected:');
    for (const x of r.rejected) {
      const what = escapeField(`${x.host} ${x.type_id ?? '-'}${x.device ? ` ${x.device}` : ''}`);
      lines.push(`  ${what} (${escapeField(describeBasis(x.basis))}): ${x.reasons.map((reason) => `${reason.code} ${escapeField(reason.message)}`).join('; ')}`);
    }
  }
  return lines.join('\n');
}

export default class Select extends BaseCommand<typeof Select, SelectResult> {
  static override summary = 'Rank every (host, type, free device) that can take a source, with the reason for each rank.';
  static override description =
    'Candidates of any basis: vendor metadata, a rule set for the source identity, or the default rule (devices without metadata need no writes). Ranked by: an existing free device needing no writes; fewest parameter writes; most values equal to the type init_value; most free instances.' + exitCodes({0: 'some destination can take the source', 1: 'none can (with --all: why)'});
  static override examples = [
    '<%= config.bin %> select --source src.json --inventory hosts/*.json',
    '<%= config.bin %> select --source cb422412-cf4b-4ce8-b578-bf742f23d32d --all',
  ];

  static override flags = {
    source: Flags.string({required: true, description: 'a device (UUID/BDF) whose list is built, or a parameter list file (- for stdin)'}),
    inventory: Flags.string({multiple: true, description: 'rank across these inventory files (default: this host, live)'}),
    all: Flags.boolean({description: 'also list the rejected destinations and why'}),
    limit: Flags.integer({min: 0, description: 'show only the best N candidates'}),
    host: Flags.string({description: 'the name of this host (live mode)'}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, consulted before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
  };

  protected async execute(): Promise<Outcome<SelectResult>> {
    const {source, inventory, all, limit, host, rules: extra} = this.flags;
    const sysfs = this.sysfs();
    const inventories = inventory === undefined ? [await readInventory(sysfs, host)] : await readInventoryFiles(inventory);
    const list = await resolveSource(source, {sysfs, inventories});
    const rules = await ruleSetsFor(list, {sysfs, ...(extra ? {extra} : {})});
    const result = selectDestinations(list, inventories, {includeRejected: all, ...(limit === undefined ? {} : {limit}), ...(rules ? {rules} : {})});
    return {result, exitCode: result.considered.candidates > 0 ? 0 : 1, human: () => render(result, all)};
  }
}
