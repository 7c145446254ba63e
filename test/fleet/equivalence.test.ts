/**
 * The acceptance test of issue 14: for every source, the hosts the generated node affinity
 * selects (evaluated with Kubernetes semantics, src/lib/fleet/node-affinity.ts, against each
 * host's feature file as NFD reads it) are exactly the hosts `select` accepts. Sources with
 * vendor metadata and sources judged by identity under the rule sets in force alike.
 */
import {readdir, readFile} from 'node:fs/promises';
import path from 'node:path';

import {affinityFor} from '../../src/lib/fleet/affinity.js';
import {hostLabels} from '../../src/lib/fleet/labels.js';
import {parseFeatureFile, renderFeatureFile} from '../../src/lib/fleet/nfd.js';
import {nodeMatches} from '../../src/lib/fleet/node-affinity.js';
import {hostFacts} from '../../src/lib/fleet/units.js';
import type {Inventory, ParamList} from '../../src/lib/model/types.js';
import {paramListFromDevice} from '../../src/lib/paramlist/index.js';
import {deviceTypeMigration} from '../../src/lib/enumerate/index.js';
import {type LoadedRuleSet, loadRuleSets} from '../../src/lib/rules/index.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {HOSTS, inventoryOf, PARAMS} from '../compat/helpers.js';
import {fleetRuleSets, generateFleet, generateIdentityLists, generateLists} from './generate.js';

/** Each host's labels, through the feature file text (what NFD would read). */
function labelsOf(inv: Inventory, rules: LoadedRuleSet[]): Map<string, string> {
  const text = renderFeatureFile(hostLabels(hostFacts(inv, rules)), {host: inv.host, expiry: new Date('2026-12-03T01:00:00Z'), generated: new Date(0)});
  return parseFeatureFile(text).labels;
}

/** Every device that can be a source (free or in use, as after `params`): vendor metadata or identity. */
function deviceSources(invs: Inventory[]): ParamList[] {
  const lists: ParamList[] = [];
  for (const inv of invs) {
    for (const d of inv.devices) {
      const type = d.kind === 'mdev' ? inv.types.find((t) => t.parent === d.parent && t.id === d.type_id) : undefined;
      try {
        lists.push(paramListFromDevice(d, deviceTypeMigration(d, inv.types), inv.host, type?.problems ?? []));
      } catch {
        // A device whose values cannot make a list is no source.
      }
    }
  }
  return lists;
}

interface Tally {
  sources: number;
  identitySources: number;
  accepted: number;
  identityAccepted: number;
  notExpressible: number;
  mismatches: string[];
}

function compare(lists: ParamList[], invs: Inventory[], rules: LoadedRuleSet[]): Tally {
  const labels = invs.map((inv) => [inv.host, labelsOf(inv, rules)] as const);
  const t: Tally = {sources: 0, identitySources: 0, accepted: 0, identityAccepted: 0, notExpressible: 0, mismatches: []};
  for (const list of lists) {
    const bySelect = new Set(selectDestinations(list, invs, {rules}).candidates.map((c) => c.host));
    let affinity;
    try {
      affinity = affinityFor(list, undefined, rules).nodeAffinity;
    } catch (error) {
      // Only rule sets whose at_least version does not fit a label integer may refuse.
      expect((error as {code?: string}).code).toBe('NOT_EXPRESSIBLE');
      t.notExpressible++;
      continue;
    }
    const byAffinity = new Set(labels.filter(([, l]) => nodeMatches(affinity, l)).map(([h]) => h));
    t.sources++;
    t.accepted += bySelect.size;
    if (list.scheme === 'none') {
      t.identitySources++;
      t.identityAccepted += bySelect.size;
    }
    const a = [...bySelect].sort().join(',');
    const b = [...byAffinity].sort().join(',');
    const what = list.scheme === 'none' ? list.identity : list.scheme === 'v3' ? [list.model, list.params] : [list.model, list.version];
    if (a !== b) t.mismatches.push(`${JSON.stringify(what)} from ${list.source.host}/${list.source.device}: select [${a}] affinity [${b}]`);
  }
  return t;
}

describe('affinity selects exactly the hosts select accepts', () => {
  it('on every fixture host, for every fixture device and parameter list (shipped rule sets)', async () => {
    const hosts = (await readdir(HOSTS)).sort();
    const invs = await Promise.all(hosts.map((h) => inventoryOf(h)));
    const rules = await loadRuleSets();
    const lists = deviceSources(invs);
    for (const file of (await readdir(PARAMS)).sort()) {
      const doc = JSON.parse(await readFile(path.join(PARAMS, file), 'utf8')) as ParamList;
      if (doc.kind === 'ParamList') lists.push(doc);
    }
    const r = compare(lists, invs, rules);
    console.log(`fixtures: ${hosts.length} hosts, ${r.sources} sources (${r.identitySources} by identity), ${r.accepted} (source, host) acceptances (${r.identityAccepted} by identity), ${r.notExpressible} not expressible, ${r.mismatches.length} mismatches`);
    expect(r.mismatches).toEqual([]);
    expect(hosts.length).toBeGreaterThanOrEqual(11);
    expect(r.sources).toBeGreaterThanOrEqual(25);
    expect(r.accepted).toBeGreaterThan(0);
    // Devices without vendor metadata (NVIDIA vGPU, mlx5, hisi_acc, mtty), judged by rule sets.
    expect(r.identitySources).toBeGreaterThanOrEqual(8);
    expect(r.identityAccepted).toBeGreaterThan(0);
    expect(r.notExpressible).toBe(0);
  });

  it('on a generated fleet of 220 hosts, for its devices, 300 generated lists and 200 identities', async () => {
    const invs = generateFleet(220);
    const rules = await fleetRuleSets();
    const lists = [...deviceSources(invs), ...generateLists(300), ...generateIdentityLists(200)];
    const r = compare(lists, invs, rules);
    console.log(`generated: ${invs.length} hosts, ${r.sources} sources (${r.identitySources} by identity), ${r.accepted} (source, host) acceptances (${r.identityAccepted} by identity), ${r.notExpressible} not expressible, ${r.mismatches.length} mismatches`);
    expect(r.mismatches.slice(0, 5)).toEqual([]);
    expect(r.sources).toBeGreaterThan(1000);
    // Both answers occur often enough to mean something.
    expect(r.accepted).toBeGreaterThan(300);
    expect(r.identitySources).toBeGreaterThan(350);
    expect(r.identityAccepted).toBeGreaterThan(1000);
    expect(r.accepted).toBeLessThan((r.sources * invs.length) / 2);
    // Destinations' too-wide versions are generated; sources' rarely.
    expect(r.notExpressible).toBeLessThan(r.identitySources / 10);
  });
});
