/** The evaluator against the Kubernetes documentation's examples and rules, nothing of vfio-mig's. */
import {InvalidAffinity, nodeMatches, type RequiredAffinity} from '../../src/lib/fleet/node-affinity.js';

const node = new Map([
  ['topology.kubernetes.io/zone', 'antarctica-east1'],
  ['example.com/cores', '16'],
  ['example.com/name', 'n1'],
]);

const req = (...terms: {key: string; operator: string; values?: string[]}[][]): RequiredAffinity => ({
  requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: terms.map((matchExpressions) => ({matchExpressions}))},
});

describe('Kubernetes required node affinity', () => {
  it('In / NotIn (NotIn also matches a node without the label)', () => {
    expect(nodeMatches(req([{key: 'topology.kubernetes.io/zone', operator: 'In', values: ['antarctica-east1', 'antarctica-west1']}]), node)).toBe(true);
    expect(nodeMatches(req([{key: 'topology.kubernetes.io/zone', operator: 'In', values: ['x']}]), node)).toBe(false);
    expect(nodeMatches(req([{key: 'absent', operator: 'In', values: ['x']}]), node)).toBe(false);
    expect(nodeMatches(req([{key: 'absent', operator: 'NotIn', values: ['x']}]), node)).toBe(true);
    expect(nodeMatches(req([{key: 'example.com/name', operator: 'NotIn', values: ['n1']}]), node)).toBe(false);
  });

  it('Exists / DoesNotExist', () => {
    expect(nodeMatches(req([{key: 'example.com/name', operator: 'Exists'}]), node)).toBe(true);
    expect(nodeMatches(req([{key: 'example.com/name', operator: 'DoesNotExist'}]), node)).toBe(false);
    expect(nodeMatches(req([{key: 'absent', operator: 'DoesNotExist'}]), node)).toBe(true);
  });

  it('Gt / Lt compare integers; a label that is not an integer does not match', () => {
    expect(nodeMatches(req([{key: 'example.com/cores', operator: 'Gt', values: ['15']}]), node)).toBe(true);
    expect(nodeMatches(req([{key: 'example.com/cores', operator: 'Gt', values: ['16']}]), node)).toBe(false);
    expect(nodeMatches(req([{key: 'example.com/cores', operator: 'Lt', values: ['17']}]), node)).toBe(true);
    expect(nodeMatches(req([{key: 'example.com/cores', operator: 'Lt', values: ['-3']}]), node)).toBe(false);
    // "9" > "10" as strings but not as integers.
    expect(nodeMatches(req([{key: 'example.com/cores', operator: 'Gt', values: ['9']}]), node)).toBe(true);
    expect(nodeMatches(req([{key: 'example.com/name', operator: 'Gt', values: ['0']}]), node)).toBe(false);
    expect(nodeMatches(req([{key: 'absent', operator: 'Lt', values: ['100']}]), node)).toBe(false);
    expect(nodeMatches(req([{key: 'example.com/cores', operator: 'Gt', values: ['9007199254740993']}]), new Map([['example.com/cores', '9007199254740994']]))).toBe(true);
  });

  it('terms are ORed, expressions ANDed, an empty term matches nothing', () => {
    const yes = {key: 'example.com/name', operator: 'Exists'};
    const no = {key: 'absent', operator: 'Exists'};
    expect(nodeMatches(req([yes, no]), node)).toBe(false);
    expect(nodeMatches(req([no], [yes]), node)).toBe(true);
    expect(nodeMatches(req([]), node)).toBe(false);
    expect(nodeMatches({requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [null]}}, node)).toBe(false);
    expect(nodeMatches({}, node)).toBe(true);
  });

  it('refuses what the API server refuses', () => {
    expect(() => nodeMatches(req([{key: 'a', operator: 'In', values: []}]), node)).toThrow(InvalidAffinity);
    expect(() => nodeMatches(req([{key: 'a', operator: 'Exists', values: ['x']}]), node)).toThrow(InvalidAffinity);
    expect(() => nodeMatches(req([{key: 'a', operator: 'Gt', values: ['1', '2']}]), node)).toThrow(InvalidAffinity);
    expect(() => nodeMatches(req([{key: 'a', operator: 'Lt', values: ['x']}]), node)).toThrow(InvalidAffinity);
    expect(() => nodeMatches(req([{key: 'a', operator: 'Near', values: ['x']}]), node)).toThrow(InvalidAffinity);
  });
});
