/** The fleet commands as users run them: --json envelopes against their schemas, exit codes. */
import {parse} from 'yaml';

import {fixture, fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';

const GPU_A_4GB_DEV = '50042111-191b-421a-9586-d94555853d83';

describe('labels, affinity, traits commands', () => {
  it('labels --out - --json: every label, the unit count, the size', () => {
    const env = parseEnvelope(runCli(['labels', '--sysfs-root', fixtureHost('gpu-b'), '--out', '-', '--json']), 'labels');
    expect(env.exitCode).toBe(0);
    expect(env.result.file).toBeNull();
    expect(env.result.labels['vfio-mig.dev/units']).toBe(String(env.result.units));
  });

  it('labels refuses a bad duration (2) and too many units (3), writing nothing', () => {
    const bad = runCli(['labels', '--sysfs-root', fixtureHost('gpu-a'), '--out', '-', '--expiry', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('vfio-mig: --expiry soon: not a duration; give e.g. 30m, 2h or 1h30m\n');
    const many = runCli(['labels', '--sysfs-root', fixtureHost('gpu-a'), '--out', '/nonexistent', '--max-units', '2']);
    expect(many.code).toBe(3);
    expect(many.stderr).toMatch(/gpu-a has 8 distinct units, more than --max-units 2; raise --max-units/);
  });

  it('affinity for a live source device prints YAML a pod spec takes; --json matches its schema', () => {
    const run = runCli(['affinity', '--sysfs-root', fixtureHost('gpu-a'), '--source', GPU_A_4GB_DEV, '--max-units', '8']);
    expect(run.code).toBe(0);
    const doc = parse(run.stdout, {version: '1.1'});
    expect(doc.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toHaveLength(8);
    const env = parseEnvelope(runCli(['affinity', '--source', fixture('params/gpu-b-16GB.json'), '--json']), 'affinity');
    expect(env.result.satisfiable).toBe(true);
    expect(env.result.max_units).toBe(64);
  });

  it('affinity reads a stream header as the source', () => {
    const list = JSON.parse(runCli(['params', GPU_A_4GB_DEV, '--sysfs-root', fixtureHost('gpu-a')]).stdout);
    const header = {apiVersion: 'vfio-mig/v1', kind: 'StreamHeader', param_list: list, migration_flags: ['STOP_COPY'], source: {host: list.source.host, device: list.source.device}, size_estimate: null, created_at: '2026-12-03T00:00:00Z'};
    const fromHeader = runCli(['affinity', '--source', '-', '--json'], {input: JSON.stringify(header)});
    const fromList = runCli(['affinity', '--source', '-', '--json'], {input: JSON.stringify(list)});
    expect(parseEnvelope(fromHeader, 'affinity').result).toEqual(parseEnvelope(fromList, 'affinity').result);
  });

  it('traits: provider config to stdout, extra specs for a source', () => {
    const cfg = parseEnvelope(runCli(['traits', '--sysfs-root', fixtureHost('v4-host'), '--out', '-', '--json', '--provider-name', 'node-7']), 'traits');
    expect(cfg.result.config.providers[0].identification).toEqual({name: 'node-7'});
    const specs = parseEnvelope(runCli(['traits', '--source', fixture('params/gpu-a-4GB.json'), '--json']), 'traits');
    expect(specs.result.mode).toBe('extra-specs');
    const human = runCli(['traits', '--source', fixture('params/gpu-a-4GB.json')]);
    expect(human.stdout).toMatch(/^trait:CUSTOM_VFIOMIG_MODEL_VENDOR_A_COM_GFX_[A-Z2-7]{8}=required\n/);
    expect(human.stdout).toMatch(/# not checked by traits; `vfio-mig compat` checks them at pre-migration:\n#   memory=4096: integer ranges/);
  });
  it('identity sources (no vendor metadata): affinity and extra specs from the rule set, labels carry the facts', () => {
    const env = parseEnvelope(runCli(['affinity', '--source', fixture('params/vgpu-a-L4-2Q.json'), '--json', '--max-units', '2']), 'affinity');
    expect(env.result.satisfiable).toBe(true);
    expect(env.result.rule_set).toBe('nvidia-vgpu');
    const term = env.result.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions;
    expect(term).toContainEqual({key: 'vfio-mig.dev/u0.id.vgpu_type_name', operator: 'In', values: ['NVIDIA_20L4-2Q']});
    expect(term).toContainEqual({key: 'vfio-mig.dev/u0.id.vgpu_driver_version.b1', operator: 'In', values: ['550']});
    const human = runCli(['affinity', '--source', fixture('params/vgpu-a-L4-2Q.json'), '--max-units', '1']);
    expect(human.stdout).toMatch(/^# vfio-mig affinity for nvidia NVIDIA L4-2Q \(rule set nvidia-vgpu\) from /);
    const labels = runCli(['labels', '--sysfs-root', fixtureHost('vgpu-b'), '--out', '-']);
    expect(labels.code).toBe(0);
    expect(labels.stdout).toMatch(/^vfio-mig.dev\/u\d+.rs.nvidia-vgpu=[0-9a-f]{16}$/m);
    expect(labels.stdout).toMatch(/^vfio-mig.dev\/u\d+.id.vgpu_driver_version=\d+\.\d+\.\d+$/m);
    const specs = runCli(['traits', '--source', fixture('params/vgpu-a-L4-2Q.json')]);
    expect(specs.code).toBe(0);
    expect(specs.stdout).toMatch(/^trait:CUSTOM_VFIOMIG_ID_[A-Z0-9_]+=required$/m);
    expect(specs.stdout).toMatch(/# not checked by traits/);
  });
});
