/**
 * The rule sets as scheduler terms (src/lib/rules/terms.ts) agree with the rules' own verdict:
 * for every pair of generated identities, the source's requirements hold on the destination's
 * facts exactly when checkIdentity finds no reason. The evaluator below is the plain meaning
 * of each requirement; it knows nothing of rules.
 */
import {
  checkIdentity,
  compareVersions,
  destinationFacts,
  factKey,
  type LoadedRuleSet,
  ordinalIsExact,
  type Requirement,
  ruleSetFor,
  sourceRequirements,
  versionOrdinal,
} from '../../src/lib/rules/index.js';
import type {DeviceIdentity} from '../../src/lib/model/types.js';
import {fleetRuleSets, generateIdentity, rng} from '../fleet/generate.js';

function holds(reqs: Requirement[], facts: Map<string, string>): boolean {
  return reqs.every((q) => {
    const v = facts.get(factKey(q.fact));
    if (q.op === 'absent') return v === undefined;
    if (q.op === 'in') return v !== undefined && q.values.includes(v);
    if (q.op === 'not_in') return v === undefined || !q.values.includes(v);
    return q.op === 'at_least' && v !== undefined && BigInt(v) >= BigInt(q.value);
  });
}

let sets: LoadedRuleSet[] = [];
beforeAll(async () => {
  sets = await fleetRuleSets();
});

describe('rule-set terms', () => {
  it('agree with checkIdentity on every pair of 600 generated identities', () => {
    const r = rng(5);
    const ids: DeviceIdentity[] = Array.from({length: 600}, (_, i) => generateIdentity(r, i % 2 === 0 ? 'mdev' : 'pci'));
    const facts = ids.map((id) => new Map(destinationFacts(id, sets).map(([f, v]) => [factKey(f), v])));
    let accepted = 0;
    let rejected = 0;
    let notExpressible = 0;
    const mismatches: string[] = [];
    ids.forEach((src) => {
      const terms = sourceRequirements(src, sets);
      const loaded = ruleSetFor(src, sets);
      if (!terms.ok && 'not_expressible' in terms) {
        notExpressible++;
        return;
      }
      ids.forEach((dst, j) => {
        const byRules = loaded !== undefined && checkIdentity(src, dst, loaded).length === 0;
        const byTerms = terms.ok && holds(terms.requirements, facts[j] as Map<string, string>);
        if (byRules) accepted++;
        else rejected++;
        if (byRules !== byTerms) mismatches.push(`${JSON.stringify(src)} -> ${JSON.stringify(dst)}: rules ${byRules}, terms ${byTerms}`);
      });
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
    // Both verdicts common; only sources with too-wide at_least versions are not expressible.
    expect(accepted).toBeGreaterThan(3000);
    expect(rejected).toBeGreaterThan(100_000);
    expect(notExpressible).toBeGreaterThan(0);
    expect(notExpressible).toBeLessThan(ids.length / 10);
  });

  it('version ordinals order like compareVersions for exact sources and any dotted destination', () => {
    const vs = ['0', '1', '1.0', '1.0.0.0', '1.2', '1.2.3', '1.2.3.4', '1.10', '2', '10.0.1', '999999.999999.999999', '1000000', '5000000.1', '1.1000000', '1.2.3000000', '550.54.14', '550.90.07'];
    for (const s of vs.filter(ordinalIsExact)) {
      for (const d of vs) {
        expect([s, d, (versionOrdinal(d) as bigint) >= (versionOrdinal(s) as bigint)]).toEqual([s, d, compareVersions(d, s) >= 0]);
      }
    }
    expect(ordinalIsExact('1.2.3.4')).toBe(false);
    expect(ordinalIsExact('1.2.3.0')).toBe(true);
    expect(ordinalIsExact('1000000')).toBe(false);
    expect(versionOrdinal('999999.999999.999999')! < 2n ** 63n).toBe(true);
    expect(versionOrdinal('abc')).toBeUndefined();
  });

  it('at_least orders dotted versions only: a srcversion hash passes only when equal', () => {
    const set = sets.find((s) => s.set.name === 'fleet-test-pci') as LoadedRuleSet;
    const id = (v: string): DeviceIdentity => ({bus: 'pci', driver: 'vfpci', pci_device: '0x1', driver_version: v});
    expect(checkIdentity(id('1.5'), id('2.0.1'), set)).toEqual([]);
    expect(checkIdentity(id('2.0.1'), id('1.5'), set).map((x) => x.code)).toEqual(['VERSION_OLDER']);
    expect(checkIdentity(id('srcABC'), id('srcABC'), set)).toEqual([]);
    expect(checkIdentity(id('1.5'), id('srcABC'), set).map((x) => x.code)).toEqual(['VERSION_OLDER']);
    expect(checkIdentity(id('srcABC'), id('srcABD'), set).map((x) => x.code)).toEqual(['VERSION_OLDER']);
  });
});
