import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField, fields, plural, showValue, table} from '../cli/render.js';
import {readTypes} from '../lib/enumerate/index.js';
import {formatAllowed} from '../lib/model/params.js';
import type {MdevType} from '../lib/model/types.js';
import {layout} from '../lib/sysfs/layout.js';

export interface TypesResult {
  types: MdevType[];
}

export function describeTypeMigration(type: Pick<MdevType, 'migration' | 'problems'>, indent = '  '): string {
  const lines: string[] = [];
  const m = type.migration;
  if (m?.scheme === 'v3') {
    lines.push(`${indent}model ${escapeField(m.model)} (RFC v3 parameters)`);
    const rows = Object.entries(m.params).map(([name, p]) => [
      name,
      p.type,
      showValue(p.init_value),
      p.off_value === undefined ? '(none)' : showValue(p.off_value),
      formatAllowed(p.allowed_values),
    ]);
    if (rows.length > 0) {
      lines.push(
        table(['PARAM', 'TYPE', 'INIT', 'OFF', 'ALLOWED'], rows)
          .split('\n')
          .map((l) => `${indent}  ${l}`)
          .join('\n'),
      );
    }
  } else if (m?.scheme === 'v4') {
    for (const model of m.models) lines.push(`${indent}model ${escapeField(model.model)} (RFC v4) versions: ${escapeField(model.versions.join(', '))}`);
  } else if (type.problems.length === 0) {
    lines.push(`${indent}no migration metadata`);
  }
  for (const problem of type.problems) lines.push(`${indent}problem: ${escapeField(problem)}`);
  return lines.join('\n');
}

export function describeType(type: MdevType): string {
  const head = fields([
    ['type', type.id],
    ['parent', type.parent],
    ['name', type.name],
    ['description', type.description],
    ['device_api', type.device_api],
    ['available_instances', type.available_instances],
  ]);
  return `${head}\n${describeTypeMigration(type)}`;
}

export default class Types extends BaseCommand<typeof Types, TypesResult> {
  static override summary = 'List mdev parents and their types with migration metadata.';
  static override description =
    'Reads every parent under sys/class/mdev_bus and each of its mdev_supported_types: name, description, ' +
    'device_api, available_instances, and the device model with its migration parameters (RFC v3 ' +
    'migration_info.json) or version strings (RFC v4 migration_device_models). Bad vendor metadata is ' +
    'shown as a problem of its type.' + exitCodes({0: 'the types listed (none is not an error)'});

  static override examples = [
    '<%= config.bin %> types',
    '<%= config.bin %> types --json --sysfs-root fixtures/hosts/gpu-a',
  ];

  protected async execute(): Promise<Outcome<TypesResult>> {
    const types = await readTypes(this.sysfs());
    return {
      result: {types},
      exitCode: 0,
      human: () => {
        if (types.length === 0) return `no mdev types under ${this.sysfs().pathOf(layout.mdevBus)}`;
        const blocks = types.map(describeType);
        return `${blocks.join('\n\n')}\n\n${plural(types.length, 'type')} on ${plural(new Set(types.map((t) => t.parent)).size, 'parent')}`;
      },
    };
  }
}
