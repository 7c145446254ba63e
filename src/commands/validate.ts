import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField, plural} from '../cli/render.js';
import {type ValidationReport, validateFile, validateHost} from '../lib/validate/index.js';

export interface ValidateResult {
  reports: ValidationReport[];
  valid: boolean;
}

export default class Validate extends BaseCommand<typeof Validate, ValidateResult> {
  static override summary = 'Validate migration metadata, parameter lists, inventories and rule sets.';
  static override description =
    'With files: checks each migration_info.json (RFC v3 parameters or v4 versions), migration_device_models, ' +
    'parameter list, inventory or rule set against its JSON Schema and the rules a schema cannot say (values of the ' +
    'declared type, well-formed "min-max" ranges, init_value and off_value allowed, safe parameter names, no duplicate keys; ' +
    'inventories: no type or device twice, no device of an unlisted type). Lists and inventories are read by the same ' +
    'code as compat and select, so validate refuses what they refuse, with the same message. Without files: every type ' +
    "and device on the sysfs root, devices' current values checked against their type." + exitCodes({0: 'valid', 1: 'invalid: every problem is listed'});

  static override examples = [
    '<%= config.bin %> validate fixtures/metadata/gfx-v3.json',
    "<%= config.bin %> validate --lenient fixtures/metadata/rfc-v3-example.txt",
    '<%= config.bin %> validate --sysfs-root fixtures/hosts/broken',
    '<%= config.bin %> validate rules/nvidia-vgpu.yaml /etc/vfio-mig/rules.d/*.yaml',
  ];

  static override strict = false;
  static override args = {
    file: Args.string({description: 'metadata, parameter-list, inventory or rule-set files (none: the whole host)'}),
  };

  static override flags = {
    lenient: Flags.boolean({description: "also accept the RFC's own example syntax (single quotes, trailing commas)"}),
  };

  protected async execute(): Promise<Outcome<ValidateResult>> {
    const {argv} = await this.parse(Validate);
    const files = argv as string[];
    const reports =
      files.length === 0
        ? await validateHost(this.sysfs())
        : await Promise.all(files.map((f) => validateFile(f, {lenient: this.flags.lenient})));
    const valid = reports.every((r) => r.valid);
    return {
      result: {reports, valid},
      exitCode: valid ? 0 : 1,
      human: () => {
        const lines: string[] = [];
        for (const r of reports) {
          if (r.valid) lines.push(`${escapeField(r.target)}: valid`);
          for (const p of r.problems) lines.push(`${escapeField(r.target)}: ${escapeField(`${p.pointer ? `${p.pointer}: ` : ''}${p.message}`)}`);
        }
        const bad = reports.filter((r) => !r.valid).length;
        lines.push(bad === 0 ? `${plural(reports.length, 'item')} valid` : `${bad} of ${plural(reports.length, 'item')} invalid`);
        return lines.join('\n');
      },
    };
  }
}
