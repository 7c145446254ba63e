/**
 * The feature file and provider config of every fixture host validate against the schemas
 * written from the NFD and Nova formats; label files stay under 64 KiB; names and values
 * keep their limits and map back.
 */
import {readdirSync} from 'node:fs';
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {parse} from 'yaml';

import {affinityFor} from '../../src/lib/fleet/affinity.js';
import {hostLabels} from '../../src/lib/fleet/labels.js';
import {nodeMatches} from '../../src/lib/fleet/node-affinity.js';
import {digestToken, escapeText, isLabelName, isLabelValue, labelValue, unescapeText} from '../../src/lib/fleet/names.js';
import {MAX_FEATURE_FILE_BYTES, parseDuration, parseFeatureFile, renderFeatureFile} from '../../src/lib/fleet/nfd.js';
import {hostTraits, providerConfig} from '../../src/lib/fleet/traits.js';
import {hostFacts} from '../../src/lib/fleet/units.js';
import {toYaml} from '../../src/lib/format/yaml.js';
import {nfdFeatures} from '../../src/lib/schema/generated/nfd-features.js';
import {novaProviderConfig} from '../../src/lib/schema/generated/nova-provider-config.js';
import {inventoryOf} from '../compat/helpers.js';
import {repoRoot, runCli} from '../helpers/cli.js';
import {loadRuleSets} from '../../src/lib/rules/index.js';
import {fleetRuleSets, generateFleet} from './generate.js';

/** Every fixture host tree (vendor metadata, rule-set identities, mtty, variant drivers). */
const FIXTURE_HOSTS = readdirSync(path.join(repoRoot, 'fixtures/hosts')).sort();

describe('feature files and provider configs of the fixture hosts', () => {
  it.each(FIXTURE_HOSTS)('%s: the CLI writes a feature file that validates, under 64 KiB, atomically', async (host) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-labels-'));
    try {
      const run = runCli(['labels', '--sysfs-root', path.join(repoRoot, 'fixtures/hosts', host), '--out', dir, '--expiry', '30m']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(await readdir(dir)).toEqual(['vfio-mig']); // no dot-file left behind
      const text = await readFile(path.join(dir, 'vfio-mig'), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThan(MAX_FEATURE_FILE_BYTES);
      const parsed = parseFeatureFile(text);
      const doc = {expiry_time: parsed.expiry, labels: Object.fromEntries(parsed.labels)};
      expect(nfdFeatures(doc)).toBe(true);
      expect([...parsed.labels.keys()].every((k) => k.startsWith('vfio-mig.dev/'))).toBe(true);
      const ms = Date.parse(parsed.expiry as string) - Date.now();
      expect(ms).toBeGreaterThan(25 * 60_000);
      expect(ms).toBeLessThan(31 * 60_000);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  it.each(FIXTURE_HOSTS)('%s: the CLI writes a provider config that validates and reads back as YAML 1.1', async (host) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-traits-'));
    try {
      const file = path.join(dir, 'vfio-mig.yaml');
      const run = runCli(['traits', '--sysfs-root', path.join(repoRoot, 'fixtures/hosts', host), '--out', file]);
      expect(run.code).toBe(0);
      const doc = parse(await readFile(file, 'utf8'), {version: '1.1'});
      expect(novaProviderConfig(doc)).toBe(true);
      expect(doc.meta.schema_version).toBe('1.0');
      expect(doc.providers[0].identification).toEqual({uuid: '$COMPUTE_NODE'});
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  it('the largest fixture host stays well under 64 KiB, and so does every generated host', async () => {
    const shipped = await loadRuleSets();
    const sizes = await Promise.all(
      FIXTURE_HOSTS.map(async (h) => {
        const inv = await inventoryOf(h);
        return [h, Buffer.byteLength(renderFeatureFile(hostLabels(hostFacts(inv, shipped)), {host: h, expiry: new Date(), generated: new Date()}))] as const;
      }),
    );
    const [largest, bytes] = [...sizes].sort((a, b) => b[1] - a[1])[0]!;
    console.log(`label files of ${sizes.length} fixture hosts: largest ${largest}, ${bytes} bytes (NFD limit ${MAX_FEATURE_FILE_BYTES})`);
    expect(bytes).toBeLessThan(MAX_FEATURE_FILE_BYTES / 4);
    const rules = await fleetRuleSets();
    let most = 0;
    for (const inv of generateFleet(220)) {
      const facts = hostFacts(inv, rules);
      const text = renderFeatureFile(hostLabels(facts), {host: inv.host, expiry: new Date(), generated: new Date()});
      most = Math.max(most, Buffer.byteLength(text));
      expect(nfdFeatures({expiry_time: parseFeatureFile(text).expiry, labels: Object.fromEntries(parseFeatureFile(text).labels)})).toBe(true);
      expect(novaProviderConfig(parse(toYaml(providerConfig(hostTraits(facts))), {version: '1.1'}))).toBe(true);
    }
    expect(most).toBeLessThan(MAX_FEATURE_FILE_BYTES);
  });

  it('the schemas refuse what NFD and Nova refuse', () => {
    expect(nfdFeatures({expiry_time: '2026-12-03T00:00:00Z', labels: {'vfio-mig.dev/a': '-x'}})).toBe(false);
    expect(nfdFeatures({expiry_time: '2026-12-03T00:00:00Z', labels: {'vfio-mig.dev/a': 'x'.repeat(64)}})).toBe(false);
    expect(nfdFeatures({expiry_time: '2026-12-03T00:00:00Z', labels: {[`vfio-mig.dev/${'a'.repeat(64)}`]: 'x'}})).toBe(false);
    expect(nfdFeatures({expiry_time: 'tomorrow', labels: {}})).toBe(false);
    const ok = providerConfig(['CUSTOM_A']);
    expect(novaProviderConfig(ok)).toBe(true);
    expect(novaProviderConfig({...ok, meta: {schema_version: '2.0'}})).toBe(false);
    expect(novaProviderConfig({...ok, providers: [{identification: {uuid: '$COMPUTE_NODE', name: 'x'}}]})).toBe(false);
    expect(novaProviderConfig({...ok, providers: [{identification: {}}]})).toBe(false);
    expect(novaProviderConfig(providerConfig(['HW_CPU_X86_AVX']))).toBe(false);
    expect(novaProviderConfig(providerConfig([`CUSTOM_${'A'.repeat(249)}`]))).toBe(false);
  });
});

describe('names and values within the label limits', () => {
  it('identity values past the limits become digests, others escape reversibly; the affinity still matches', async () => {
    const rules = await loadRuleSets();
    const long = `NVIDIA ${'X'.repeat(70)}-8Q`;
    const vf = (bdf: string, name: string) => ({
      kind: 'pci' as const, bdf, driver: 'nvidia', type_migration: null, migration: null, in_use: null, problems: [],
      identity: {bus: 'pci' as const, driver: 'nvidia', vgpu_type: '9', vgpu_type_name: name, vgpu_driver_version: '550.54.14', pci_vendor: '0x10de', pci_device: '0x27b8'},
    });
    const inv = {apiVersion: 'vfio-mig/v2' as const, kind: 'Inventory' as const, host: 'h', taken_at: '2026-12-03T00:00:00Z', types: [], devices: [vf('0000:41:00.4', long), vf('0000:41:00.5', 'NVIDIA_ü/2Q')]};
    const labels = hostLabels(hostFacts(inv, rules));
    const names = [...labels.entries()].filter(([k]) => k.endsWith('.id.vgpu_type_name')).map(([, v]) => v).sort();
    expect(names).toEqual([digestToken(long), 'NVIDIA___c3_bc_2f2Q'].sort());
    expect(unescapeText('NVIDIA___c3_bc_2f2Q')).toBe('NVIDIA_ü/2Q');
    for (const [k, v] of labels) expect([k, isLabelName(k) && isLabelValue(v)]).toEqual([k, true]);
    const src = {apiVersion: 'vfio-mig/v2' as const, kind: 'ParamList' as const, scheme: 'none' as const, source: {host: 'other', device: 'x'}, identity: inv.devices[0]!.identity};
    const text = renderFeatureFile(labels, {host: 'h', expiry: new Date(), generated: new Date()});
    expect(nodeMatches(affinityFor(src, 2, rules).nodeAffinity, parseFeatureFile(text).labels)).toBe(true);
    const other = {...src, identity: {...src.identity, vgpu_type_name: `NVIDIA ${'X'.repeat(70)}-4Q`}};
    expect(nodeMatches(affinityFor(other, 2, rules).nodeAffinity, parseFeatureFile(text).labels)).toBe(false);
  });

  it('escapes reversibly and falls back to a digest that no escaped text can be', () => {
    for (const text of ['vendor-a.com/gfx', 'a_b', 'x y/z', 'ünï', '_zz', 'h_zabc', '1.0']) {
      expect(unescapeText(escapeText(text))).toBe(text);
      const v = labelValue(text);
      expect(isLabelValue(v)).toBe(true);
      if (!v.startsWith('h_z')) expect(unescapeText(v)).toBe(text);
    }
    expect(labelValue('h_zabc')).toBe('h__zabc');
    expect(labelValue('')).toBe(digestToken(''));
    expect(labelValue('-x')).toBe(digestToken('-x'));
    expect(labelValue('a'.repeat(64))).toBe(digestToken('a'.repeat(64)));
    expect(labelValue('a'.repeat(63))).toBe('a'.repeat(63));
    expect(isLabelName('u0.p.mem.lo')).toBe(true);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('0m')).toBeUndefined();
    expect(parseDuration('5x')).toBeUndefined();
  });
});
