/**
 * The hostile-input corpus: trees and files an attacker (or a broken host) could hand the tool,
 * built per test from the fixtures so that FIFOs, link loops and control characters need no
 * special files in git. Each case is named after the issue #12 item it pins.
 */
import {mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {copyHost, fixture} from '../helpers/cli.js';

export const SRC = '50042111-191b-421a-9586-d94555853d83';
export const SECOND = 'cb422412-cf4b-4ce8-b578-bf742f23d32d';
export const PARENT = '0000:65:00.0';
export const DEVICES = 'sys/devices/pci0000:64/0000:64:00.0/0000:65:00.0';

/** What a hostile string does to a terminal: erase the line, return, ring, NUL, bidi override. */
export const EVIL = 'evil\u001b[2K\rcompatible: all good\u0007\u0000\u202e\u009b';

/** A newline and what would follow it: a foreign string must not start a line that reads as the tool's. */
export const FORGED = '\nFORGED: compatible';

/** Every control character a terminal acts on, newline excepted (what human output must not hold). */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A JSON file in `dir`. */
export function writeJson(dir: string, name: string, data: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** gpu-a's 4GB parameter list with `edit` applied. */
export function paramList(edit: (list: any) => void = () => undefined): any {
  const list = JSON.parse(readFileSync(fixture('params', 'gpu-a-4GB.json'), 'utf8'));
  edit(list);
  return list;
}

/**
 * A copy of gpu-a whose every host-supplied string carries control characters: the host name,
 * a type's name and description, a str parameter's current value, undeclared migration files
 * (one with a newline in its name).
 */
export async function hostileTree(): Promise<string> {
  const root = await copyHost('gpu-a');
  writeFileSync(path.join(root, 'proc/sys/kernel/hostname'), `gpu-a${EVIL.replace('\u0000', '')}${FORGED}\n`);
  const type = path.join(root, DEVICES, 'mdev_supported_types/vgfx-4GB');
  writeFileSync(path.join(type, 'name'), `vgfx${EVIL.replace('\u0000', '')}${FORGED}\n`);
  writeFileSync(path.join(type, 'description'), `desc${EVIL.replace('\u0000', '')}${FORGED}\n`);
  const migration = path.join(root, DEVICES, SRC, 'migration');
  writeFileSync(path.join(migration, 'profile'), `v2${EVIL.replace('\u0000', '')}\n`);
  writeFileSync(path.join(migration, `x${EVIL.replace(/[\u0000/]/g, '')}`), '1\n');
  writeFileSync(path.join(migration, `y${FORGED}`), '1\n');
  return root;
}

/** Replace `rel` (a directory or link below root) with a link to itself: ELOOP for whoever follows it. */
export function loopAt(root: string, rel: string): void {
  const full = path.join(root, rel);
  rmSync(full, {recursive: true, force: true});
  mkdirSync(path.dirname(full), {recursive: true});
  symlinkSync(path.basename(full), full);
}
