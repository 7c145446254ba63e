/**
 * The agreement test (issue #11): every fixture source against every fixture destination
 * through select, compat and `prepare --dry-run`; any disagreement on the verdict, its basis
 * or the writes fails. And every file compat/select refuse, validate refuses with the same
 * message.
 */
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {checkCompat, deviceIdOf} from '../../src/lib/compat/index.js';
import {deviceType} from '../../src/lib/enumerate/index.js';
import {readInventoryFile} from '../../src/lib/inventory/index.js';
import type {Inventory, ParamList, VfioDevice} from '../../src/lib/model/types.js';
import {paramListFromDevice, readParamListFile} from '../../src/lib/paramlist/index.js';
import {prepareDevice} from '../../src/lib/prepare/index.js';
import {countPlan, planPreparation, plannedWrites} from '../../src/lib/prepare/plan.js';
import {type LoadedRuleSet, loadRuleSets} from '../../src/lib/rules/index.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {validateFile} from '../../src/lib/validate/index.js';
import {HOSTS, hostRoot, inventoryOf, PARAMS} from './helpers.js';

let hosts: string[];
let inventories: Inventory[];
let rules: LoadedRuleSet[];
const sources: {host: string; device: string; list: ParamList}[] = [];

beforeAll(async () => {
  hosts = (await readdir(HOSTS)).sort();
  inventories = await Promise.all(hosts.map((h) => inventoryOf(h)));
  rules = await loadRuleSets();
  for (const inv of inventories) {
    for (const d of inv.devices) {
      const type = deviceType(d, inv.types);
      try {
        sources.push({host: inv.host, device: deviceIdOf(d), list: paramListFromDevice(d, type?.migration ?? (d.kind === 'pci' ? d.type_migration : null), inv.host, type?.problems)});
      } catch {
        // Not a source (bad vendor metadata): covered by the validate half below.
      }
    }
  }
});

function destinations(): {inv: Inventory; device: VfioDevice}[] {
  return inventories.flatMap((inv) => inv.devices.map((device) => ({inv, device})));
}

describe('select, compat and prepare --dry-run agree', () => {
  it('finds sources of every basis', () => {
    const bases = new Set(sources.map((s) => s.list.scheme));
    expect(bases).toEqual(new Set(['v3', 'v4', 'none']));
    expect(sources.length).toBeGreaterThan(20);
  });

  it('on every (source, destination device) pair: verdict, basis and writes', async () => {
    let pairs = 0;
    let compatible = 0;
    for (const src of sources) {
      const sel = selectDestinations(src.list, inventories, {includeRejected: true, rules});
      for (const {inv, device} of destinations()) {
        const id = deviceIdOf(device);
        const type = deviceType(device, inv.types);
        const meta = device.kind === 'pci' ? device.type_migration : (type?.migration ?? null);
        const verdict = checkCompat(src.list, {host: inv.host, type, device, migration: meta}, {rules});
        const prep = await prepareDevice(hostRoot(inv.host), id, src.list, {dryRun: true, host: inv.host, rules});
        const cand = sel.candidates.find((c) => c.host === inv.host && c.device === id);
        const what = `${src.host}/${src.device} -> ${inv.host}/${id}`;
        expect({what, select: cand !== undefined, prepare: prep.compatible}).toEqual({what, select: verdict.compatible, prepare: verdict.compatible});
        expect({what, basis: prep.basis}).toEqual({what, basis: verdict.basis});
        pairs++;
        if (!verdict.compatible) {
          // Every rejection is explained: the device itself, or its type, is in `rejected`.
          const rej = sel.rejected?.find((r) => r.host === inv.host && (r.device === id || (r.device === null && type !== null && r.type_id === type.id && r.parent === type.parent)));
          expect({what, explained: rej !== undefined && rej.reasons.length > 0}).toEqual({what, explained: true});
          continue;
        }
        compatible++;
        expect({what, basis: cand?.basis}).toEqual({what, basis: verdict.basis});
        const prepWrites = prep.steps.filter((s) => s.action === 'write').map((s) => ({param: s.param, from: s.current, to: s.target}));
        expect({what, writes: cand?.planned_writes}).toEqual({what, writes: prepWrites});
        expect({what, count: cand?.writes}).toEqual({what, count: prep.writes});
      }
    }
    expect(pairs).toBeGreaterThan(500);
    expect(compatible).toBeGreaterThan(10);
  });

  it('new devices of a type: select counts what the planner plans', () => {
    for (const src of sources) {
      const sel = selectDestinations(src.list, inventories, {rules});
      for (const c of sel.candidates.filter((x) => x.device === null)) {
        const inv = inventories.find((i) => i.host === c.host)!;
        const type = inv.types.find((t) => t.id === c.type_id && t.parent === c.parent)!;
        const verdict = checkCompat(src.list, {host: inv.host, type, device: null, migration: type.migration}, {rules});
        expect(verdict.compatible).toBe(true);
        const plan = planPreparation(src.list, type.migration, null);
        expect(c.planned_writes).toEqual(plannedWrites(src.list, type.migration, null));
        expect(c.writes).toBe(plan.writes);
        const counts = {writes: -1, init: -1, params: -1};
        countPlan(src.list, type.migration, null, src.list.scheme === 'v3' ? Object.keys(src.list.params) : [], counts);
        expect(counts.writes).toBe(plan.writes);
      }
    }
  });
});

describe('validate refuses what compat and select refuse, with the same message', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-agree-'));
  });
  afterAll(async () => rm(dir, {recursive: true, force: true}));

  const good = () => JSON.parse(JSON.stringify(inventories.find((i) => i.host === 'gpu-a'))) as Inventory;
  const spec = (inv: Inventory) => (inv.types[0]!.migration as unknown as {params: Record<string, Record<string, unknown>>}).params;
  const badInventories: [string, (inv: Inventory) => unknown][] = [
    ['range-min-gt-max', (inv) => ((spec(inv).memory!.allowed_values = ['8-2']), inv)],
    ['init-wrong-type', (inv) => ((spec(inv).memory!.init_value = '4096'), inv)],
    ['init-not-allowed', (inv) => ((spec(inv).memory!.init_value = 99999), inv)],
    ['duplicate-type', (inv) => (inv.types.push(inv.types[0]!), inv)],
    ['duplicate-device', (inv) => (inv.devices.push(inv.devices[0]!), inv)],
    ['device-of-missing-type', (inv) => (inv.types.splice(0, 1), inv)],
  ];

  it.each(badInventories)('inventory: %s', async (name, mutate) => {
    const file = path.join(dir, `${name}.json`);
    await writeFile(file, JSON.stringify(mutate(good())));
    const refusal = await readInventoryFile(file).then(() => undefined, (e: Error) => e.message);
    expect(refusal).toBeDefined();
    const report = await validateFile(file);
    expect(report.valid).toBe(false);
    const first = report.problems[0]!;
    expect(refusal).toContain(`${file}: not a valid inventory: ${first.pointer || '/'}: ${first.message}`);
  });

  const badLists: [string, string][] = [
    ['duplicate key', '{"apiVersion":"vfio-mig/v1","kind":"ParamList","scheme":"v3","model":"a.b/c","params":{"memory":1,"memory":2},"source":{"host":"h","device":"d"}}'],
    ['none without v2', '{"apiVersion":"vfio-mig/v1","kind":"ParamList","scheme":"none","source":{"host":"h","device":"d"},"identity":{"bus":"mdev"}}'],
    ['v2 without identity', '{"apiVersion":"vfio-mig/v2","kind":"ParamList","scheme":"v3","model":"a.b/c","params":{},"source":{"host":"h","device":"d"}}'],
  ];

  it.each(badLists)('parameter list: %s', async (name, text) => {
    const file = path.join(dir, `${name.replace(/ /g, '-')}.json`);
    await writeFile(file, text);
    const refusal = await readParamListFile(file).then(() => undefined, (e: Error) => e.message);
    expect(refusal).toBeDefined();
    const report = await validateFile(file);
    expect(report.valid).toBe(false);
    const first = report.problems[0]!;
    expect(refusal).toContain(`${first.pointer ? `${first.pointer}: ` : ''}${first.message}`);
  });

  it('every fixture parameter list: validate and the reader agree', async () => {
    const files = (await readdir(PARAMS)).filter((f) => f.endsWith('.json')).map((f) => path.join(PARAMS, f));
    for (const file of files) {
      const refusal = await readParamListFile(file).then(() => undefined, (e: Error) => e.message);
      const report = await validateFile(file);
      expect({file, valid: report.valid}).toEqual({file, valid: refusal === undefined});
      if (refusal !== undefined) expect(refusal).toContain(report.problems[0]!.message);
    }
  });
});
