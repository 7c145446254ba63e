/** Traits are necessary, not sufficient: every host select accepts has the required traits. */
import {readdir} from 'node:fs/promises';

import {extraSpecsFor, hostTraits, identityTrait} from '../../src/lib/fleet/traits.js';
import {hostFacts} from '../../src/lib/fleet/units.js';
import type {Inventory, ParamList} from '../../src/lib/model/types.js';
import {paramListFromDevice} from '../../src/lib/paramlist/index.js';
import {type LoadedRuleSet, loadRuleSets, sourceRequirements} from '../../src/lib/rules/index.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {HOSTS, inventoryOf} from '../compat/helpers.js';
import {fleetRuleSets, generateFleet, generateIdentityLists, generateLists} from './generate.js';

/**
 * For identity sources: the required traits are exactly the traits of the source's equality
 * requirements (one value), each the same name the destination's provider file carries for
 * that fact and value; every host select accepts has them all; and what traits leave out is
 * said (ranges among it).
 */
function checkIdentityTraits(lists: ParamList[], invs: Inventory[], rules: LoadedRuleSet[]): {sources: number; pairs: number; ruledOut: number; ranges: number} {
  const traits = new Map(invs.map((inv) => [inv.host, new Set(hostTraits(hostFacts(inv, rules)))]));
  const out = {sources: 0, pairs: 0, ruledOut: 0, ranges: 0};
  for (const list of lists) {
    if (list.scheme !== 'none') continue;
    const t = sourceRequirements(list.identity, rules);
    if (!t.ok) continue;
    out.sources++;
    const specs = extraSpecsFor(list, rules);
    const required = Object.keys(specs.extra_specs).map((k) => k.replace(/^trait:/, ''));
    const equalities = t.requirements.filter((q) => q.op === 'in' && q.values.length === 1);
    expect(required.sort()).toEqual(equalities.map((q) => identityTrait(q.fact, (q as {values: string[]}).values[0] as string)).sort());
    const others = t.requirements.length - equalities.length;
    // Every requirement that is not one equality is named as left to compat.
    expect(specs.not_expressed.length).toBeGreaterThanOrEqual(others);
    if (t.requirements.some((q) => q.op === 'at_least')) {
      out.ranges++;
      expect(specs.not_expressed.join('\n')).toMatch(/at least the source's version \(a range\)/);
    }
    const accepted = new Set(selectDestinations(list, invs, {rules}).candidates.map((c) => c.host));
    for (const inv of invs) {
      const has = required.every((x) => traits.get(inv.host)!.has(x));
      if (accepted.has(inv.host)) {
        out.pairs++;
        expect([inv.host, has]).toEqual([inv.host, true]);
      } else if (!has) out.ruledOut++;
    }
  }
  return out;
}

describe('Nova traits', () => {
  it('identity sources: extra specs require exactly the equality traits destinations carry (fixture hosts)', async () => {
    const invs = await Promise.all((await readdir(HOSTS)).sort().map((h) => inventoryOf(h)));
    const lists = invs.flatMap((inv) =>
      inv.devices.flatMap((d) => {
        try {
          return [paramListFromDevice(d, null, inv.host)];
        } catch {
          return [];
        }
      }),
    );
    const r = checkIdentityTraits(lists, invs, await loadRuleSets());
    console.log(`traits, fixtures: ${r.sources} identity sources, ${r.pairs} accepted (source, host) pairs, ${r.ruledOut} hosts ruled out by traits`);
    expect(r.sources).toBeGreaterThanOrEqual(10);
    expect(r.pairs).toBeGreaterThan(0);
    expect(r.ruledOut).toBeGreaterThan(0);
  });

  it('identity sources: the same on the generated fleet, ranges said to be left to compat', async () => {
    const invs = generateFleet(220);
    const r = checkIdentityTraits(generateIdentityLists(200), invs, await fleetRuleSets());
    console.log(`traits, generated: ${r.sources} identity sources, ${r.pairs} accepted (source, host) pairs, ${r.ruledOut} hosts ruled out by traits, ${r.ranges} with at_least ranges`);
    expect(r.sources).toBeGreaterThan(140);
    expect(r.pairs).toBeGreaterThan(500);
    expect(r.ruledOut).toBeGreaterThan(10_000);
    expect(r.ranges).toBeGreaterThan(10);
  });

  it('required traits hold on every host select accepts, and rule out hosts', () => {
    const invs = generateFleet(220);
    const traits = new Map(invs.map((inv) => [inv.host, new Set(hostTraits(hostFacts(inv, [])))]));
    let ruledOut = 0;
    for (const list of generateLists(300)) {
      const required = Object.keys(extraSpecsFor(list).extra_specs).map((k) => k.replace(/^trait:/, ''));
      const accepted = new Set(selectDestinations(list, invs).candidates.map((c) => c.host));
      for (const inv of invs) {
        const has = required.every((t) => traits.get(inv.host)!.has(t));
        if (accepted.has(inv.host)) expect(has).toBe(true);
        else if (!has) ruledOut++;
      }
    }
    expect(ruledOut).toBeGreaterThan(10_000);
  });

  it('say what they leave to compat', () => {
    const [list] = generateLists(1);
    const specs = extraSpecsFor({...list!, scheme: 'v3', model: 'm', params: {mem: 4, profile: 'v1', ecc: true}} as never);
    expect(Object.keys(specs.extra_specs)).toHaveLength(2);
    expect(specs.not_expressed.join('\n')).toMatch(/mem=4: integer ranges[\s\S]*profile="v1": string values[\s\S]*same type/);
  });
});
