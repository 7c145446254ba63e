/** Issue #12 item 11: YAML 1.1 both ways, as PyYAML (and so OpenStack) reads and writes it. */
import {execFileSync, spawnSync} from 'node:child_process';
import {readdirSync, readFileSync} from 'node:fs';

import {readInventory} from '../../src/lib/enumerate/index.js';
import {parseYamlOrJson, toYaml} from '../../src/lib/format/yaml.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {fixture, fixtureHost, runCli} from '../helpers/cli.js';
import {EVIL} from './corpus.js';

/**
 * A python3 with PyYAML. Installs Debian's python3-yaml when none has it (the tests run as
 * root in CI); fails naming the package otherwise, never skips.
 */
function pythonWithYaml(): string {
  const candidates = ['python3', '/usr/bin/python3'];
  const works = () => candidates.find((py) => spawnSync(py, ['-c', 'import yaml'], {stdio: 'ignore'}).status === 0);
  let python = works();
  if (python === undefined) {
    spawnSync('apt-get', ['install', '-y', '-q', 'python3-yaml'], {stdio: 'ignore', timeout: 300_000});
    python = works();
  }
  if (python === undefined) throw new Error('PyYAML is needed for this test: apt-get install python3-yaml (or pip install pyyaml)');
  return python;
}

/** Every document through PyYAML's safe_load, back as JSON (dates would fail json.dumps: they must not appear). */
function pyLoad(python: string, docs: string[]): unknown[] {
  const script = 'import json, sys, yaml\nprint(json.dumps([yaml.safe_load(d) for d in json.load(sys.stdin)]))';
  return JSON.parse(execFileSync(python, ['-c', script], {input: JSON.stringify(docs), encoding: 'utf8'}));
}

describe('item 11: YAML output reads back in PyYAML as written', () => {
  const python = pythonWithYaml();

  it('strings YAML 1.1 gives a meaning to: =, <<, yes, on, 010, 0o17, ~, 1_000, 12:30, dates', () => {
    const tricky = ['=', '<<', 'yes', 'No', 'on', 'OFF', 'y', 'n', '\u007f\ufffe', '010', '0o17', '0x1F', '0b11', '~', 'null', '', '1_000', '12:30', '1:20:30', '2001-12-14', '2026-12-03T14:49:33Z', '.inf', '-.NaN', '1e3', '+1', EVIL];
    const value = {list: tricky, keys: Object.fromEntries(tricky.map((t, i) => [t, i])), '<<': {a: 1}, '=': '='};
    const [back] = pyLoad(python, [toYaml(value)]);
    expect(back).toEqual(JSON.parse(JSON.stringify(value)));
  });

  it('every fixture host inventory and parameter list round-trips through PyYAML', async () => {
    const values: unknown[] = [];
    for (const host of readdirSync(fixture('hosts'))) values.push(await readInventory(new SysfsRoot(fixtureHost(host))));
    for (const file of readdirSync(fixture('params'))) values.push(JSON.parse(readFileSync(fixture('params', file), 'utf8')));
    const back = pyLoad(python, values.map((v) => toYaml(v)));
    expect(back).toEqual(JSON.parse(JSON.stringify(values)));
  });

  it('the CLI writes its --yaml envelope the same way', () => {
    const run = runCli(['inventory', '--yaml', '--sysfs-root', fixtureHost('gpu-a')]);
    const json = JSON.parse(runCli(['inventory', '--json', '--sysfs-root', fixtureHost('gpu-a')]).stdout);
    const [back] = pyLoad(python, [run.stdout]) as any[];
    delete back.result.taken_at;
    delete json.result.taken_at;
    expect(back).toEqual(json);
  });
});

describe('item 11: YAML input is read as YAML 1.1, as PyYAML wrote it', () => {
  it('yes is true, 010 is eight, 0o17 a string, = and << quoted come back as strings', () => {
    expect(parseYamlOrJson('a: 0o17\nb: yes\nc: 010\nd: "="\ne: "<<"\nf: off\n', 'test')).toEqual({a: '0o17', b: true, c: 8, d: '=', e: '<<', f: false});
  });

  it('what PyYAML writes reads back as PyYAML meant it', () => {
    const python = pythonWithYaml();
    const value = {octal: '0o17', flag: 'yes', zero: '010', n: 8, b: true, s: 'on', eq: '=', merge: '<<'};
    const text = execFileSync(python, ['-c', 'import json, sys, yaml\nprint(yaml.safe_dump(json.load(sys.stdin)))'], {input: JSON.stringify(value), encoding: 'utf8'});
    expect(parseYamlOrJson(text, 'test')).toEqual(value);
  });
});
