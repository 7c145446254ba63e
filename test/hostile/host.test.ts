/** Issue #12 items 5, 8 and 10: hostile trees are a problem of the object they hit, read only as needed. */
import {mkdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {readDevice, readDevices, readInventory, readTypes, UNREADABLE_TYPE} from '../../src/lib/enumerate/index.js';
import {parseMigrationInfo} from '../../src/lib/model/metadata.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {validateHost} from '../../src/lib/validate/index.js';
import {copyHost, runCli} from '../helpers/cli.js';
import {DEVICES, loopAt, PARENT, SECOND, SRC} from './corpus.js';

describe('item 5: __proto__ and friends', () => {
  it('an undeclared migration/toString is reported (own names only)', async () => {
    const root = await copyHost('gpu-a');
    try {
      writeFileSync(path.join(root, DEVICES, SRC, 'migration/toString'), '1\n');
      writeFileSync(path.join(root, DEVICES, SRC, 'migration/__proto__'), '1\n');
      const device = await readDevice(new SysfsRoot(root), SRC);
      expect(device.problems).toEqual(
        expect.arrayContaining(['migration/toString: not declared in migration_info.json', 'migration/__proto__: not declared in migration_info.json']),
      );
    } finally {
      rmSync(root, {recursive: true, force: true});
    }
  });

  it.each(['__proto__', 'toString', 'constructor', 'hasOwnProperty'])('vendor metadata declaring %s is refused, by validate and the readers alike', (name) => {
    const text = JSON.stringify({models: {'vendor-a.com/gfx': {params: {[name]: {type: 'int', init_value: 1}, memory: {type: 'int', init_value: 4}}}}});
    // JSON.stringify drops nothing: the key is in the text as written.
    expect(text).toContain(`"${name}"`);
    const parsed = parseMigrationInfo(text);
    expect(parsed.info).toBeUndefined();
    expect(parsed.problems).toEqual([
      {pointer: `/models/vendor-a.com~1gfx/params/${name}`, message: `parameter name "${name}" is reserved (every JavaScript object has it); rename it`},
    ]);
  });

  it('a parameter list naming __proto__ keeps it as a parameter (compat reports it, not drops it)', () => {
    const list = {
      apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model: 'vendor-a.com/gfx',
      params: JSON.parse('{"memory": 4096, "ecc": true, "profile": "v2", "queues": 4, "__proto__": 7}'),
      source: {host: 'gpu-a', device: SRC, type: 'vgfx-4GB', parent: PARENT},
    };
    const text = JSON.stringify(list);
    expect(text).toContain('"__proto__":7');
    const run = runCli(['compat', '--source', '-', '--dest', 'vgfx-4GB', '--sysfs-root', path.resolve('fixtures/hosts/gpu-a'), '--json'], {input: text});
    const envelope = JSON.parse(run.stdout);
    expect(envelope.status).toBe('no');
    expect(envelope.result.reasons).toEqual([expect.objectContaining({message: expect.stringContaining('__proto__')})]);
  });
});

describe('item 8: a link loop is the problem of the device (or parent) it is on', () => {
  let root: string;
  afterEach(() => rmSync(root, {recursive: true, force: true}));

  it("a loop on one device's directory: the other device reads, the looped one carries the problem", async () => {
    root = await copyHost('gpu-a');
    loopAt(root, `sys/bus/mdev/devices/${SECOND}`);
    const devices = await readDevices(new SysfsRoot(root));
    expect(devices.find((d) => d.kind === 'mdev' && d.uuid === SRC)?.problems).toEqual([]);
    expect(devices.find((d) => d.kind === 'mdev' && d.uuid === SECOND)?.problems).toEqual([expect.stringMatching(/too many levels of symbolic links/)]);
    for (const command of ['list', 'inventory', 'validate']) {
      const run = runCli([command, '--sysfs-root', root]);
      expect({command, code: run.code}).toEqual({command, code: command === 'validate' ? 1 : 0});
    }
  });

  it("a loop on a device's migration/: a problem of that device", async () => {
    root = await copyHost('gpu-a');
    loopAt(root, `${DEVICES}/${SECOND}/migration`);
    const devices = await readDevices(new SysfsRoot(root));
    const looped = devices.find((d) => d.kind === 'mdev' && d.uuid === SECOND);
    expect(looped?.problems.join('\n')).toMatch(/migration.*too many levels of symbolic links/);
    expect(devices.find((d) => d.kind === 'mdev' && d.uuid === SRC)?.migration).not.toBeNull();
    const reports = await validateHost(new SysfsRoot(root));
    expect(reports.some((r) => !r.valid)).toBe(true);
  });

  it('a loop on a parent: types lists it as unreadable, devices still read', async () => {
    root = await copyHost('gpu-a');
    mkdirSync(path.join(root, 'sys/class/mdev_bus'), {recursive: true});
    symlinkSync('0000:66:00.0', path.join(root, 'sys/class/mdev_bus/0000:66:00.0'));
    const types = await readTypes(new SysfsRoot(root));
    expect(types.filter((t) => t.parent === PARENT).length).toBe(2);
    expect(types.find((t) => t.parent === '0000:66:00.0')).toEqual({
      id: UNREADABLE_TYPE, parent: '0000:66:00.0', migration: null, problems: [expect.stringMatching(/too many levels of symbolic links/)],
    });
    const inventory = await readInventory(new SysfsRoot(root));
    expect(inventory.devices.length).toBe(2);
    expect(runCli(['types', '--sysfs-root', root]).code).toBe(0);
  });
});

describe('item 10: /proc is scanned only for VFIO nodes there are to look for', () => {
  let root: string;
  afterEach(() => rmSync(root, {recursive: true, force: true}));

  /** A host with many processes, each with fds: what a scan would have to read. */
  async function busyHost(): Promise<string> {
    const dir = await copyHost('gpu-a');
    for (let pid = 10000; pid < 10050; pid++) {
      mkdirSync(path.join(dir, `proc/${pid}/fd`), {recursive: true});
      for (let fd = 0; fd < 20; fd++) symlinkSync('/dev/null', path.join(dir, `proc/${pid}/fd/${fd}`));
    }
    return dir;
  }

  it('no dev/vfio on the host: no process directory is listed', async () => {
    root = await busyHost();
    rmSync(path.join(root, 'dev/vfio'), {recursive: true});
    const sysfs = new SysfsRoot(root);
    const devices = await readDevices(sysfs);
    expect(devices.length).toBe(2);
    const listed = sysfs.dirReads;
    // Enumeration lists sys/ directories only; a /proc scan would add one per process and more.
    expect(listed).toBeLessThan(20);
    expect(devices.every((d) => d.in_use === null)).toBe(true);
  });

  it('with the groups present: one scan, in_use found', async () => {
    root = await busyHost();
    const sysfs = new SysfsRoot(root);
    const devices = await readDevices(sysfs);
    expect(devices.find((d) => d.kind === 'mdev' && d.uuid === SECOND)?.in_use).toEqual({pids: [4242]});
    expect(sysfs.dirReads).toBeGreaterThan(50);
  });

  it('one device asked about whose group has no node: no scan', async () => {
    root = await busyHost();
    rmSync(path.join(root, 'dev/vfio/41'));
    const sysfs = new SysfsRoot(root);
    const before = sysfs.dirReads;
    const device = await readDevice(sysfs, SRC);
    expect(device.in_use).toBeNull();
    expect(sysfs.dirReads - before).toBeLessThan(20);
  });
});
