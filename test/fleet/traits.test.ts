/** Traits are necessary, not sufficient: every host select accepts has the required traits. */
import {extraSpecsFor, hostTraits} from '../../src/lib/fleet/traits.js';
import {hostFacts} from '../../src/lib/fleet/units.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {generateFleet, generateLists} from './generate.js';

describe('Nova traits', () => {
  it('required traits hold on every host select accepts, and rule out hosts', () => {
    const invs = generateFleet(220);
    const traits = new Map(invs.map((inv) => [inv.host, new Set(hostTraits(hostFacts(inv)))]));
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
