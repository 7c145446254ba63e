import path from 'node:path';

import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField, showValue} from '../cli/render.js';
import {type CompatResult, checkCompat, type Reason, type SourceRef} from '../lib/compat/index.js';
import {describeBasis, identityLabel, ruleSetsFor} from '../lib/rules/index.js';
import {shippedRulesDir} from '../lib/rules/ruleset.js';
import {inventoryDestination, liveDestination, resolveSource} from '../lib/compat/resolve.js';
import {readInventoryFiles} from '../lib/inventory/index.js';

/** The source as people name it: its model (and version), or its mdev type / driver when it has no vendor metadata. */
export function sourceLabel(s: SourceRef): string {
  if (s.model !== undefined) return `${s.model}${s.version ? ` ${s.version}` : ''}`;
  return s.identity ? identityLabel(s.identity) : (s.type ?? 'device');
}

/** A shipped rule set as `rules/mtty.yaml (shipped)`, wherever the package lives; a user's file relative to the working directory when below it. */
function shortPath(file: string): string {
  const shipped = path.relative(path.dirname(shippedRulesDir()), file);
  if (!shipped.startsWith('..') && !path.isAbsolute(shipped)) return `${shipped}, shipped`;
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

export function reasonLines(reasons: Reason[], indent = '  '): string[] {
  const width = Math.max(0, ...reasons.map((r) => r.code.length));
  return reasons.map((r) => {
    let line = `${indent}${r.code.padEnd(width)}  ${escapeField(r.message)}`;
    return line;
  });
}

function render(r: CompatResult): string {
  const src = `${escapeField(sourceLabel(r.source))} from ${escapeField(r.source.host)} ${escapeField(r.source.device)}`;
  const d = r.destination;
  const dst = escapeField(`${d.host} ${d.kind === 'device' ? `device ${d.device}` : 'type'}${d.type_id ? ` ${d.parent}/${d.type_id}` : ''}`);
  const lines = [`${r.compatible ? 'compatible' : 'NOT compatible'}: ${src} -> ${dst}`, `basis: ${escapeField(describeBasis(r.basis))}${r.basis.file ? ` (${escapeField(shortPath(r.basis.file))})` : ''}`];
  if (r.reasons.length > 0) lines.push('reasons:', ...reasonLines(r.reasons));
  if (r.warnings.length > 0) lines.push('warnings:', ...reasonLines(r.warnings));
  return lines.join('\n');
}

export default class Compat extends BaseCommand<typeof Compat, CompatResult> {
  static override summary = 'Can a destination (mdev type or device) take a source? The verdict and every reason.';
  static override description =
    'Vendor metadata decides where the source has it; otherwise the rule set for the source identity (shipped in rules/, <root>/etc/vfio-mig/rules.d/*.yaml, --rules), else the default rule. The verdict names its basis. Identity reasons: IDENTITY_MISMATCH, BRANCH_MISMATCH, VERSION_OLDER, VALUE_NOT_ALLOWED, EXCLUDED_PAIR, OUTSIDE_RULE_SET, IDENTITY_UNKNOWN. Metadata reasons: MODEL_MISMATCH, SCHEME_MISMATCH, PARAM_MISSING, WRONG_TYPE, NOT_ALLOWED (with the allowed set), VERSION_NOT_OFFERED, DEVICE_IN_USE, DEVICE_UNREADABLE, IS_SOURCE, NO_METADATA; warnings: KEEPS_NON_INIT_VALUE, NO_AVAILABLE_INSTANCES. With --inventory the check runs offline on host snapshots.' + exitCodes({0: 'compatible', 1: 'not compatible: every reason is listed'});
  static override examples = [
    '<%= config.bin %> compat --source src.json --dest vgfx-8GB',
    '<%= config.bin %> compat --source cb422412-cf4b-4ce8-b578-bf742f23d32d --dest vgfx-4GB',
    '<%= config.bin %> compat --source src.json --dest 0000:65:00.0/vgfx-8GB --inventory gpu-b.json --host gpu-b',
  ];

  static override flags = {
    source: Flags.string({required: true, description: 'a device (UUID/BDF) whose list is built, or a parameter list file (- for stdin)'}),
    dest: Flags.string({required: true, description: 'a type id ([<parent>/]<type>) or a device (UUID/BDF)'}),
    inventory: Flags.string({multiple: true, description: 'check against these inventory files instead of this host'}),
    host: Flags.string({description: 'with --inventory: the host whose inventory holds --dest; without: the name of this host'}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, consulted before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
  };

  protected async execute(): Promise<Outcome<CompatResult>> {
    const {source, dest, inventory, host, rules: extra} = this.flags;
    const sysfs = this.sysfs();
    const inventories = inventory === undefined ? undefined : await readInventoryFiles(inventory);
    const list = await resolveSource(source, {sysfs, ...(inventories ? {inventories} : {}), ...(host === undefined || inventories ? {} : {host})});
    const destination = inventories
      ? inventoryDestination(inventories, dest, host)
      : await liveDestination(sysfs, dest, host === undefined ? {} : {host});
    const rules = await ruleSetsFor(list, {sysfs, ...(extra ? {extra} : {})});
    const result = checkCompat(list, destination, rules ? {rules} : {});
    return {result, exitCode: result.compatible ? 0 : 1, human: () => render(result)};
  }
}
