/**
 * Issue #12 item 6 over the whole corpus: every file a reader refuses, `validate` refuses too,
 * with the same message; every file a reader takes, validate calls valid. The corpus is
 * iterated, so a file added to it is covered without editing this test: fixtures/params,
 * fixtures/metadata, fixtures/rules, rules/ (shipped), test/hostile/files/<reader>/, and the
 * inventory of every fixture host.
 *
 * The readers are the ones the commands use: readParamListFile (compat/select --source,
 * prepare --params, affinity, traits), readInventoryFile (compat/select/labels/traits
 * --inventory), readTypes on a host whose type carries the file as migration_info.json
 * (list, show, types, params, inventory, compat, prepare), readRuleSetFile (--rules).
 */
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import {copyFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {parseMetadataProblem, readInventory, readTypes} from '../../src/lib/enumerate/index.js';
import {readInventoryFile} from '../../src/lib/inventory/index.js';
import {readParamListFile} from '../../src/lib/paramlist/index.js';
import {readRuleSetFile} from '../../src/lib/rules/ruleset.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {validateFile, validateHost} from '../../src/lib/validate/index.js';
import {copyHost, fixture, repoRoot} from '../helpers/cli.js';
import {DEVICES, SRC} from './corpus.js';

const FILES = path.join(repoRoot, 'test/hostile/files');

/** The files of a directory (none when it does not exist yet). */
function filesIn(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.') && !f.endsWith('.md')).sort().map((f) => path.join(dir, f)) : [];
}

/** A reader's refusal, or undefined when it takes the file. */
async function refusal(read: () => Promise<unknown>): Promise<string | undefined> {
  return read().then(
    () => undefined,
    (e: Error) => e.message,
  );
}

/** What validate says first, as its human line shows it (pointer, then message). */
async function validateFirst(file: string): Promise<{valid: boolean; first?: string; pointer?: string; message?: string}> {
  const report = await validateFile(file);
  const p = report.problems[0];
  return p === undefined ? {valid: report.valid} : {valid: report.valid, first: p.pointer ? `${p.pointer}: ${p.message}` : p.message, pointer: p.pointer, message: p.message};
}

const tally = {refused: 0, taken: 0};

/**
 * One file through one reader and validate: both take it, or both refuse it and the reader's
 * message holds what `expected` makes of validate's first problem.
 */
async function agree(file: string, read: () => Promise<unknown>, expected: (v: Awaited<ReturnType<typeof validateFirst>>) => string): Promise<void> {
  const refused = await refusal(read);
  const v = await validateFirst(file);
  expect({file, valid: v.valid}).toEqual({file, valid: refused === undefined});
  if (refused === undefined) {
    tally.taken++;
    return;
  }
  tally.refused++;
  expect({file, refused}).toEqual({file, refused: expect.stringContaining(expected(v))});
}

describe('item 6 (corpus): validate agrees with every reader on every corpus file', () => {
  const lists = [...filesIn(fixture('params')), ...filesIn(path.join(FILES, 'param-list'))];
  it.each(lists.map((f) => [path.relative(repoRoot, f), f]))('parameter list %s', async (_name, file) => {
    await agree(file, () => readParamListFile(file), (v) => v.first!);
  });

  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-corpus-'));
    // The inventory of every fixture host is in the corpus too.
    for (const host of readdirSync(fixture('hosts'))) {
      writeFileSync(path.join(dir, `${host}.json`), JSON.stringify(await readInventory(new SysfsRoot(fixture('hosts', host)))));
    }
  });
  afterAll(() => rmSync(dir, {recursive: true, force: true}));

  it('inventory: every fixture host and test/hostile/files/inventory', async () => {
    const files = [...filesIn(dir), ...filesIn(path.join(FILES, 'inventory'))];
    expect(files.length).toBeGreaterThan(15);
    for (const file of files) {
      // Schema and structure problems: `<file>: not a valid inventory: <pointer>: <message>`; parse errors: `<file>: <message>`.
      await agree(file, () => readInventoryFile(file), (v) => (v.pointer === '' ? `${file}: ${v.message}` : `${file}: not a valid inventory: ${v.pointer}: ${v.message}`));
    }
  });

  it('vendor metadata: a type carrying the file as migration_info.json reads as validate says, in file and host mode', async () => {
    const files = [...filesIn(fixture('metadata')), ...filesIn(path.join(FILES, 'metadata'))];
    const root = await copyHost('gpu-a');
    const target = path.join(root, DEVICES, 'mdev_supported_types/vgfx-4GB/migration_info.json');
    try {
      for (const file of files) {
        await rm(target, {force: true});
        await copyFile(file, target);
        const type = (await readTypes(new SysfsRoot(root))).find((t) => t.id === 'vgfx-4GB')!;
        const v = await validateFirst(file);
        const hostReport = (await validateHost(new SysfsRoot(root))).find((r) => r.format === 'type' && r.target.includes('vgfx-4GB'))!;
        expect({file, valid: v.valid, host: hostReport.problems.length === 0}).toEqual({file, valid: type.problems.length === 0, host: type.problems.length === 0});
        if (type.problems.length === 0) {
          tally.taken++;
          continue;
        }
        tally.refused++;
        // The reader's problem line (`migration_info.json <pointer>: <message>`) holds validate's very pointer and message.
        expect({file, reader: parseMetadataProblem(type.problems[0]!)}).toEqual({file, reader: {file: 'migration_info.json', problem: {pointer: v.pointer, message: v.message}}});
        if (!/[\s"]|: /.test(v.pointer ?? '')) expect({file, reader: type.problems[0]}).toEqual({file, reader: `migration_info.json${v.pointer ? ` ${v.pointer}` : ''}: ${v.message}`});
        expect({file, host: hostReport.problems[0]}).toEqual({file, host: {pointer: v.pointer, message: v.message}});
      }
    } finally {
      rmSync(root, {recursive: true, force: true});
    }
  });

  it("host mode: a device's current value outside its type's allowed values is invalid (memory=99999), as compat finds it", async () => {
    const root = await copyHost('gpu-a');
    try {
      writeFileSync(path.join(root, DEVICES, SRC, 'migration/memory'), '99999\n');
      const device = (await validateHost(new SysfsRoot(root))).find((r) => r.format === 'device' && r.target.endsWith(SRC))!;
      expect(device.valid).toBe(false);
      expect(device.problems).toEqual([{pointer: '', message: expect.stringMatching(/^migration\/memory: .*99999/)}]);
    } finally {
      rmSync(root, {recursive: true, force: true});
    }
  });

  it('rule sets: fixtures/rules, the shipped rules/ and test/hostile/files/rule-set', async () => {
    const files = [...filesIn(fixture('rules')), ...filesIn(path.join(repoRoot, 'rules')), ...filesIn(path.join(FILES, 'rule-set'))];
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) await agree(file, () => readRuleSetFile(file, 'user'), (v) => `${file}: not a valid rule set: ${v.first}`);
  });

  it('ran both halves on real files (the corpus is not empty; refusals are most of it)', () => {
    expect(tally.refused).toBeGreaterThan(35);
    expect(tally.taken).toBeGreaterThan(20);
  });
});
