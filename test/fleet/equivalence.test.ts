/**
 * The acceptance test of issue 14: for every source, the hosts the generated node affinity
 * selects (evaluated with Kubernetes semantics, src/lib/fleet/node-affinity.ts, against each
 * host's feature file as NFD reads it) are exactly the hosts `select` accepts.
 */
import {readdir, readFile} from 'node:fs/promises';
import path from 'node:path';

import {affinityFor} from '../../src/lib/fleet/affinity.js';
import {hostLabels} from '../../src/lib/fleet/labels.js';
import {parseFeatureFile, renderFeatureFile} from '../../src/lib/fleet/nfd.js';
import {nodeMatches} from '../../src/lib/fleet/node-affinity.js';
import {hostFacts} from '../../src/lib/fleet/units.js';
import type {Inventory, MetadataParamList as ParamList, ParamList as AnyParamList} from '../../src/lib/model/types.js';
import {paramListFromDevice} from '../../src/lib/paramlist/index.js';
import {deviceTypeMigration} from '../../src/lib/enumerate/index.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {inventoryOf, PARAMS} from '../compat/helpers.js';
import {generateFleet, generateLists} from './generate.js';

const FIXTURE_HOSTS = ['broken', 'gpu-a', 'gpu-b', 'pci-vf', 'v4-host'];

/** Each host's labels, through the feature file text (what NFD would read). */
function labelsOf(inv: Inventory): Map<string, string> {
  const text = renderFeatureFile(hostLabels(hostFacts(inv)), {host: inv.host, expiry: new Date('2026-12-03T01:00:00Z'), generated: new Date(0)});
  return parseFeatureFile(text).labels;
}

/** Every device with usable metadata as a source (free or in use, as after `params`). */
function deviceSources(invs: Inventory[]): ParamList[] {
  const lists: ParamList[] = [];
  for (const inv of invs) {
    for (const d of inv.devices) {
      const meta = deviceTypeMigration(d, inv.types);
      if (meta === null || d.migration === null) continue;
      try {
        lists.push(paramListFromDevice(d, meta, inv.host) as ParamList);
      } catch {
        // A device whose values cannot make a list is no source.
      }
    }
  }
  return lists;
}

function compare(lists: ParamList[], invs: Inventory[]): {sources: number; accepted: number; mismatches: string[]} {
  const labels = invs.map((inv) => [inv.host, labelsOf(inv)] as const);
  const mismatches: string[] = [];
  let accepted = 0;
  for (const list of lists) {
    const bySelect = new Set(selectDestinations(list, invs).candidates.map((c) => c.host));
    const affinity = affinityFor(list).nodeAffinity;
    const byAffinity = new Set(labels.filter(([, l]) => nodeMatches(affinity, l)).map(([h]) => h));
    accepted += bySelect.size;
    const a = [...bySelect].sort().join(',');
    const b = [...byAffinity].sort().join(',');
    if (a !== b) mismatches.push(`${list.model} ${JSON.stringify(list.scheme === 'v3' ? list.params : list.version)} from ${list.source.host}/${list.source.device}: select [${a}] affinity [${b}]`);
  }
  return {sources: lists.length, accepted, mismatches};
}

describe('affinity selects exactly the hosts select accepts', () => {
  it('on the fixture hosts, for every fixture device and parameter list', async () => {
    const invs = await Promise.all(FIXTURE_HOSTS.map((h) => inventoryOf(h)));
    const lists = deviceSources(invs);
    for (const file of (await readdir(PARAMS)).sort()) {
      const doc = JSON.parse(await readFile(path.join(PARAMS, file), 'utf8')) as AnyParamList;
      // Lists without vendor metadata (scheme none) are placed by rule sets, which labels do not carry.
      if (doc.kind === 'ParamList' && doc.scheme !== 'none') lists.push(doc);
    }
    const r = compare(lists, invs);
    expect(r.mismatches).toEqual([]);
    expect(r.sources).toBeGreaterThanOrEqual(15);
    expect(r.accepted).toBeGreaterThan(0);
  });

  it('on a generated fleet of 220 hosts, for its devices and 300 generated lists', () => {
    const invs = generateFleet(220);
    const lists = [...deviceSources(invs), ...generateLists(300)];
    const r = compare(lists, invs);
    expect(r.mismatches).toEqual([]);
    expect(r.sources).toBeGreaterThan(500);
    // Both answers occur often enough to mean something.
    expect(r.accepted).toBeGreaterThan(300);
    expect(r.accepted).toBeLessThan(r.sources * invs.length / 2);
  });
});
