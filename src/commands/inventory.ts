import {writeFile} from 'node:fs/promises';

import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField} from '../cli/render.js';
import {InputError} from '../lib/errors.js';
import {readInventory} from '../lib/enumerate/index.js';
import {inventoryDocument, inventoryJson} from '../lib/inventory/index.js';
import type {InventoryDocument} from '../lib/model/types.js';
import {documentFormat, serializeDocument} from '../lib/paramlist/index.js';

export default class InventoryCommand extends BaseCommand<typeof InventoryCommand, InventoryDocument> {
  static override summary = 'Snapshot this host: mdev types, models, parameter metadata, free instances, devices and their values.';
  static override description =
    'compat and select read these files with --inventory FILE... to check a fleet offline, without access to the hosts. ' +
    'Format v3 (apiVersion vfio-mig/v3): each distinct type metadata is stored once, in `metadata`, and types name their block; files of formats v1 and v2 still read.' + exitCodes({0: 'the inventory written'});
  static override examples = ['<%= config.bin %> inventory --out /var/lib/vfio-mig/$(hostname).json'];

  static override flags = {
    out: Flags.string({char: 'o', description: 'write the inventory to FILE (YAML if it ends in .yaml/.yml) instead of stdout'}),
    format: Flags.string({options: ['json', 'yaml'], description: 'format (default: JSON, or by --out extension)'}),
    host: Flags.string({description: "the host name recorded (default: the host's name)"}),
  };

  protected async execute(): Promise<Outcome<InventoryDocument>> {
    const {out, format, host} = this.flags;
    // Format v3: each distinct type metadata once (select reads fleets of these fast).
    const inventory = inventoryDocument(await readInventory(this.sysfs(), host));
    const fmt = documentFormat(out, format);
    const serialize = async () => (fmt === 'json' ? inventoryJson(inventory) : serializeDocument(inventory, fmt));
    if (out !== undefined) {
      await writeFile(out, await serialize()).catch((error: NodeJS.ErrnoException) => {
        throw new InputError(`${out}: cannot write: ${error.code ?? error.message}`, error.code ?? 'EIO');
      });
    }
    const text = out === undefined ? await serialize() : '';
    return {
      result: inventory,
      exitCode: 0,
      human: () =>
        out === undefined
          ? text
          : `wrote ${escapeField(out)}: host ${escapeField(inventory.host)}, ${inventory.types.length} types, ${inventory.devices.length} devices`,
    };
  }
}
