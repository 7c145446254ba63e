/**
 * Inventory format v3 (each distinct type metadata once, issue #14 item 5): on generated
 * fleets and the fixture hosts, select over v3 files gives exactly what it gives over the same
 * inventories in the inline format (v2); the reader's checks in parts (document with its table
 * emptied, then each distinct block) agree with the whole inventory schema; the fast path
 * agrees with JSON.parse of the whole text; `validate` refuses what the readers refuse, with
 * the same message.
 */
import {mkdtemp, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {
  inventoryDocument,
  inventoryJson,
  type MetadataCache,
  parseInventory,
  readInventoryFiles,
  validateInventory,
} from '../../src/lib/inventory/index.js';
import type {Inventory, InventoryDocument, ParamList} from '../../src/lib/model/types.js';
import {loadRuleSets} from '../../src/lib/rules/index.js';
import {schemaProblems} from '../../src/lib/schema/index.js';
import {inventory as inventorySchema} from '../../src/lib/schema/generated/inventory.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {validateFile} from '../../src/lib/validate/index.js';
import {HOSTS, inventoryOf, REPO} from './helpers.js';

interface Fleet {
  inventories: Inventory[];
  distinctBlocks: number;
}
interface FleetGen {
  fleetInventories(o: {hosts: number; types?: number; fleet?: string; distinct?: boolean}): Fleet;
  sourceList(): ParamList;
}

let gen: FleetGen;
let dir: string;
beforeAll(async () => {
  gen = (await import(path.join(REPO, 'bench/fleet-gen.mjs'))) as FleetGen;
  dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-inv3-'));
});
afterAll(() => rm(dir, {recursive: true, force: true}));

/** The v2 model of a v3 reading: apiVersion aside, the inventory written. */
const asRead = (inv: Inventory): Inventory => ({...inv, apiVersion: 'vfio-mig/v2'});

async function writeBoth(name: string, inventories: Inventory[]): Promise<{v2: string[]; v3: string[]}> {
  const v2: string[] = [];
  const v3: string[] = [];
  await Promise.all(
    inventories.map(async (inv, i) => {
      v2[i] = path.join(dir, `${name}-${i}.v2.json`);
      v3[i] = path.join(dir, `${name}-${i}.v3.json`);
      await writeFile(v2[i] as string, JSON.stringify(inv));
      await writeFile(v3[i] as string, inventoryJson(inventoryDocument(inv)));
    }),
  );
  return {v2, v3};
}

describe('select over v3 files equals select over the inline format', () => {
  it.each([
    ['models', false],
    ['models', true],
    ['legacy', false],
  ])('generated fleet %s (every type distinct: %s), 200 hosts x 8 types: the same full result, rejected included', async (fleet, distinct) => {
    const {inventories, distinctBlocks} = gen.fleetInventories({hosts: 200, types: 8, fleet, distinct});
    const {v2, v3} = await writeBoth(`${fleet}-${distinct}`, inventories);
    const old = await readInventoryFiles(v2);
    const neu = await readInventoryFiles(v3);
    // Compared as JSON text: the same values in the same order (jest's deep equality is slow at this size).
    expect(JSON.stringify(neu)).toBe(JSON.stringify(inventories.map(asRead)));
    // Types of equal metadata share one object: the verdict is computed once per block.
    const objects = new Set(neu.flatMap((inv) => inv.types.map((t) => t.migration)));
    expect(objects.size).toBe(distinctBlocks);
    const list = gen.sourceList();
    const a = selectDestinations(list, old, {includeRejected: true});
    const b = selectDestinations(list, neu, {includeRejected: true});
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(a.considered.candidates).toBeGreaterThan(100);
    // The best N kept while ranking (with a limit) are the full ranking's first N.
    for (const limit of [0, 1, 10, 1000]) {
      const best = selectDestinations(list, neu, {limit});
      expect(best.considered).toEqual(a.considered);
      expect(JSON.stringify(best.candidates)).toBe(JSON.stringify(a.candidates.slice(0, limit)));
    }
    expect(a.rejected!.length).toBeGreaterThan(100);
  });

  it('every fixture host, every fixture source: the same verdicts and ranking from v3 files (rule sets included)', async () => {
    const hosts = (await readdir(HOSTS)).sort();
    const inventories = await Promise.all(hosts.map((h) => inventoryOf(h)));
    const {v2, v3} = await writeBoth('fixtures', inventories);
    const old = await readInventoryFiles(v2);
    const neu = await readInventoryFiles(v3);
    expect(neu).toEqual(old.map(asRead));
    const rules = await loadRuleSets();
    const {paramListFromDevice} = await import('../../src/lib/paramlist/index.js');
    const {deviceType} = await import('../../src/lib/enumerate/index.js');
    let sources = 0;
    for (const inv of old) {
      for (const d of inv.devices) {
        let list: ParamList;
        try {
          list = paramListFromDevice(d, deviceType(d, inv.types)?.migration ?? (d.kind === 'pci' ? d.type_migration : null), inv.host);
        } catch {
          continue; // no parameter list from bad vendor data
        }
        sources++;
        expect(selectDestinations(list, neu, {includeRejected: true, rules})).toEqual(selectDestinations(list, old, {includeRejected: true, rules}));
      }
    }
    expect(sources).toBeGreaterThan(10);
  });
});

describe('the v3 reader', () => {
  const base = (): InventoryDocument => {
    const {inventories} = gen.fleetInventories({hosts: 1, types: 8, fleet: 'models'});
    return inventoryDocument(inventories[0] as Inventory);
  };
  const firstBlock = (doc: InventoryDocument) => Object.keys(doc.metadata)[0] as string;
  const refusal = (data: unknown, cache?: MetadataCache) => {
    try {
      validateInventory(data, 'x', cache);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };

  // Each mutation breaks one rule; the reader (document without its table, then each block)
  // and the whole schema must agree on every one, and on the intact document.
  const mutations: [string, (d: any, name: string) => void][] = [
    ['intact', () => {}],
    ['a block of an unknown scheme', (d, n) => (d.metadata[n].scheme = 'v9')],
    ['a parameter of an unknown type', (d, n) => (d.metadata[n].params.p00.type = 'float')],
    ['an unsafe parameter name', (d, n) => (d.metadata[n].params['../x'] = {type: 'int', init_value: 1})],
    ['an unknown property in a block', (d, n) => (d.metadata[n].extra = 1)],
    ['a block name of another form', (d, n) => ((d.metadata['md5:1'] = d.metadata[n]), delete d.metadata[n])],
    ['no metadata table', (d) => delete d.metadata],
    ['a metadata table that is a list', (d) => (d.metadata = [])],
    ['a block that is a string', (d, n) => (d.metadata[n] = 'x')],
    ['an inline metadata in a v3 type', (d, n) => (d.types[0].migration = d.metadata[n])],
    ['an unknown property in a type', (d) => (d.types[0].extra = 1)],
    ['a table in a v2 file', (d) => (d.apiVersion = 'vfio-mig/v2')],
  ];
  it.each(mutations)('%s: the reader and the whole schema agree', (_what, mutate) => {
    const doc = JSON.parse(JSON.stringify(base()));
    mutate(doc, firstBlock(doc));
    const whole = schemaProblems(inventorySchema, doc);
    const message = refusal(doc);
    expect(message === undefined).toBe(whole.length === 0);
    if (message !== undefined) {
      // The reader's first problem is one the whole schema reports.
      const [, pointer, text] = /^x: not a valid inventory: (\S*): (.*?)( \(and more\))?$/.exec(message)!;
      expect(whole).toContainEqual({pointer: pointer === '/' ? '' : pointer, message: text});
    }
  });

  it('refuses what the schema cannot say: a block that breaks the metadata rules, a name not in the table', () => {
    const doc = JSON.parse(JSON.stringify(base()));
    const name = firstBlock(doc);
    doc.metadata[name].params.p00.init_value = 999999;
    expect(refusal(doc)).toMatch(new RegExp(`/metadata/${name}/params/p00`));
    const dangling = JSON.parse(JSON.stringify(base()));
    dangling.types[0].migration = 'sha256:0000000000000000';
    expect(refusal(dangling)).toBe("x: not a valid inventory: /types/0/migration: metadata sha256:0000000000000000 is not in the inventory's metadata table");
  });

  it('a block named as one of another file but different is checked on its own', () => {
    const cache: MetadataCache = new Map();
    const good = base();
    expect(refusal(good, cache)).toBeUndefined();
    const bad = JSON.parse(JSON.stringify(good));
    bad.metadata[firstBlock(bad)].params.p00.init_value = 'x';
    expect(refusal(bad, cache)).toMatch(/params\/p00/);
    // And through the fast path.
    return expect(parseInventory(inventoryJson(bad), 'x', cache)).rejects.toThrow(/params\/p00/);
  });

  it('the fast path reads what JSON.parse of the whole text reads, and falls back on any other layout', async () => {
    const doc = base();
    const text = inventoryJson(doc);
    const whole = validateInventory(JSON.parse(text));
    expect(await parseInventory(text)).toEqual(whole);
    // Pretty-printed, two blocks on a line, a second metadata key: the whole-text parse decides.
    const lines = text.split('\n');
    const joined = [lines[0], `${lines[1]}${lines[2]}`, ...lines.slice(3)].join('\n');
    expect(await parseInventory(JSON.stringify(doc, null, 2))).toEqual(whole);
    expect(await parseInventory(joined)).toEqual(whole);
    const twice = text.replace(/\}\n$/, ',"metadata":{}}\n');
    await expect(parseInventory(twice)).rejects.toThrow(/is not in the inventory's metadata table/);
    // A block line that is not JSON: the message of JSON.parse of the whole text.
    const broken = text.replace('"scheme":"v3"', '"scheme":"v3"]');
    let wholeError = '';
    try {
      JSON.parse(broken);
    } catch (error) {
      wholeError = (error as Error).message;
    }
    await expect(parseInventory(broken, 'x')).rejects.toThrow(`x: not valid JSON: ${wholeError}`);
  });

  it('validate refuses a bad v3 file with the message select gives', async () => {
    const doc = JSON.parse(JSON.stringify(base()));
    doc.metadata[firstBlock(doc)].params.p00.allowed_values = ['9-1'];
    const file = path.join(dir, 'bad-v3.json');
    await writeFile(file, inventoryJson(doc));
    const refused = await readInventoryFiles([file]).then(() => '', (e: Error) => e.message);
    expect(refused).toMatch(/allowed_values/);
    const report = await validateFile(file);
    expect(report.valid).toBe(false);
    expect(refused).toContain(`${report.problems[0]!.pointer}: ${report.problems[0]!.message}`);
  });
});
