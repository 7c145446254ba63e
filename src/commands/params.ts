import {writeFile} from 'node:fs/promises';

import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField} from '../cli/render.js';
import {InputError} from '../lib/errors.js';
import type {ParamList} from '../lib/model/types.js';
import {identityLabel} from '../lib/rules/index.js';
import {buildParamList, documentFormat, serializeDocument} from '../lib/paramlist/index.js';

export default class Params extends BaseCommand<typeof Params, ParamList> {
  static override summary = "Print a source device's migration parameter list (what a destination must match).";
  static override description =
    "RFC v3: the model and every parameter whose value differs from its off_value, plus every parameter that has no off_value. RFC v4: the model and version string. A device without vendor metadata (every kernel driver today): scheme none, and rule sets decide on its identity. Always the device's identity read from sysfs (driver and module version, mdev type, PCI ids, NVIDIA vGPU type and host driver version) and where it came from (host, device, type). Written as JSON (or YAML) to stdout or --out FILE; compat, select and prepare read it." + exitCodes({0: 'the parameter list written'});
  static override examples = [
    '<%= config.bin %> params cb422412-cf4b-4ce8-b578-bf742f23d32d --out src.json',
    '<%= config.bin %> params 0000:01:00.1 --format yaml',
  ];

  static override args = {
    device: Args.string({required: true, description: 'the source device: an mdev UUID or a PCI address'}),
  };

  static override flags = {
    out: Flags.string({char: 'o', description: 'write the list to FILE (YAML if it ends in .yaml/.yml) instead of stdout'}),
    format: Flags.string({options: ['json', 'yaml'], description: 'format of the list (default: JSON, or by --out extension)'}),
    host: Flags.string({description: "the host name recorded as the list's source (default: the host's name)"}),
  };

  protected async execute(): Promise<Outcome<ParamList>> {
    const {out, format, host} = this.flags;
    const list = await buildParamList(this.sysfs(), this.args.device, host === undefined ? {} : {host});
    const fmt = documentFormat(out, format);
    if (out !== undefined) {
      await writeFile(out, await serializeDocument(list, fmt)).catch((error: NodeJS.ErrnoException) => {
        throw new InputError(`${out}: cannot write: ${error.code ?? error.message}`, error.code ?? 'EIO');
      });
    }
    const text = out === undefined ? await serializeDocument(list, fmt) : '';
    const count =
      list.scheme === 'v3'
        ? `${escapeField(list.model)}, ${Object.keys(list.params).length} parameters`
        : list.scheme === 'v4'
          ? `${escapeField(list.model)}, version ${escapeField(list.version)}`
          : `no vendor metadata: identity ${escapeField(identityLabel(list.identity))}`;
    return {
      result: list,
      exitCode: 0,
      human: () => (out === undefined ? text : `wrote ${escapeField(out)}: ${count} (from ${escapeField(list.source.host)} ${escapeField(list.source.device)})`),
    };
  }
}
