import {parse} from 'yaml';

import {fixture, fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';

const hosts = ['gpu-a', 'gpu-b', 'pci-vf', 'v4-host', 'broken'];

describe('types / list / show / validate on every fixture host', () => {
  it.each(hosts)('%s: types --json and list --json validate against their schemas', (host) => {
    const types = runCli(['types', '--json', '--sysfs-root', fixtureHost(host)]);
    expect(types.code).toBe(0);
    expect(parseEnvelope(types, 'types').status).toBe('ok');
    const list = runCli(['list', '--json', '--sysfs-root', fixtureHost(host)]);
    expect(list.code).toBe(0);
    expect(parseEnvelope(list, 'list').result.devices.length).toBeGreaterThan(0);
  });

  it('types prints what the tree holds', () => {
    const run = runCli(['types'], {env: {VFIO_MIG_SYSFS_ROOT: fixtureHost('gpu-a')}});
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('type:                vgfx-8GB');
    expect(run.stdout).toMatch(/memory\s+int\s+8192\s+\(none\)\s+1024-8192, 16384/);
    expect(run.stdout).toMatch(/2 types on 1 parent\n$/);
  });

  it('list prints devices, their use and values', () => {
    const run = runCli(['list', '--sysfs-root', fixtureHost('pci-vf')]);
    expect(run.stdout).toMatch(/0000:01:00\.1\s+pci mlx5_vfio_pci\s+11\s+pid 5150\s+nvidia\.com\/mlx5-vf mtu=9000 roce=true/);
    expect(run.stdout).toMatch(/0000:05:00\.4\s+pci nvidia\s+18\s+pid 6001\s+vGPU 560 \(NVIDIA L4-2Q\)/);
    expect(run.stdout).not.toContain('0000:04:00.0');
  });

  it('list --yaml is the same envelope, readable by YAML 1.1 tools', () => {
    const run = runCli(['list', '--yaml', '--sysfs-root', fixtureHost('gpu-a')]);
    expect(run.code).toBe(0);
    const envelope = parse(run.stdout, {version: '1.1'});
    expect(envelope.result.devices[1].migration.values).toEqual({memory: 8192, ecc: false, profile: 'v2', encoder: 2, queues: 4});
    expect(run.stdout).not.toMatch(/&a\d|\*a\d/);
  });

  it('show: a device, a PCI device by short BDF, a type with its instances', () => {
    const device = runCli(['show', 'CB422412-CF4B-4CE8-B578-BF742F23D32D', '--sysfs-root', fixtureHost('gpu-a')]);
    expect(device.code).toBe(0);
    expect(device.stdout).toMatch(/in use:\s+yes, by pid 4242/);
    expect(device.stdout).toMatch(/memory = 8192/);
    const pci = runCli(['show', '01:00.2', '--json', '--sysfs-root', fixtureHost('pci-vf')]);
    expect(parseEnvelope(pci, 'show').result.device).toMatchObject({bdf: '0000:01:00.2', driver: 'mlx5_vfio_pci'});
    const type = runCli(['show', 'vgfx-8GB', '--json', '--sysfs-root', fixtureHost('gpu-b')]);
    const result = parseEnvelope(type, 'show').result;
    expect(result.types[0].id).toBe('vgfx-8GB');
    expect(result.devices.map((d: {uuid: string}) => d.uuid)).toEqual(['f5c5eb08-e0c4-4af1-9f9b-533fdc15ae19']);
  });

  it('show: unknown ids are input errors (exit 2) with one line naming them', () => {
    const run = runCli(['show', 'vgfx-99GB', '--sysfs-root', fixtureHost('gpu-a')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("vfio-mig: vgfx-99GB: no such device or mdev type; see 'vfio-mig types' for the type ids\n");
    const json = runCli(['show', '00000000-0000-0000-0000-000000000000', '--json', '--sysfs-root', fixtureHost('gpu-a')]);
    expect(json.code).toBe(2);
    expect(parseEnvelope(json, 'show')).toMatchObject({status: 'error', error: {code: 'NO_DEVICE'}});
  });

  it('validate: exit 0 valid, 1 invalid (one line per problem naming file and pointer), 2 unreadable', () => {
    expect(runCli(['validate', fixture('metadata/gfx-v3.json')]).code).toBe(0);
    const bad = runCli(['validate', fixture('metadata/bad-range-min-gt-max.json'), fixture('metadata/gfx-v3.json')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(
      `${fixture('metadata/bad-range-min-gt-max.json')}: /models/vendor-b.com~1gfx/params/queues/allowed_values/0: range "8-2" has min > max\n`,
    );
    expect(bad.stdout).toMatch(/1 of 2 items invalid\n$/);
    const missing = runCli(['validate', '/nonexistent.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('vfio-mig: /nonexistent.json: cannot read document: no such file\n');
  });

  it('validate with no file checks every type on the host; --json matches its schema', () => {
    const run = runCli(['validate', '--json', '--sysfs-root', fixtureHost('broken')]);
    expect(run.code).toBe(1);
    const result = parseEnvelope(run, 'validate').result;
    const invalid = result.reports.filter((r: {valid: boolean}) => !r.valid);
    expect(invalid.length).toBe(17);
    expect(runCli(['validate', '--sysfs-root', fixtureHost('gpu-a')]).code).toBe(0);
  });

  it('usage errors exit 2 with the reason on one line', () => {
    const run = runCli(['types', '--no-such-flag']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^vfio-mig: Nonexistent flag: --no-such-flag/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
