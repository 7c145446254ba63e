// Tiny JSON assertion helper for the VM scenarios (no jq in the guest).
//   node jq.mjs get FILE EXPR            print EXPR (JS, `r` = the parsed file; JSON lines: `r` = array)
//   node jq.mjs check DESC FILE EXPR     exit 0 when EXPR is truthy, else print what was seen, exit 1
//   node jq.mjs batch QUEUE              every queued check (records DESC\x1fFILE\x1fEXPR\x1e): one node
//                                        start for a whole scenario (node starts slowly under TCG)
import {readFileSync} from 'node:fs';
import {isDeepStrictEqual as deq} from 'node:util';

const [mode, ...args] = process.argv.slice(2);
// A JSON file; JSON lines (an array); or the CLI's --json output for long commands: event
// lines ending with the one-line envelope (the envelope, with .events = the lines before it).
const load = (file) => {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch {
    const parsed = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    const last = parsed.at(-1);
    if (last && last.apiVersion === 'vfio-mig/v1' && 'command' in last && 'status' in last) {
      last.events = parsed.slice(0, -1);
      return last;
    }
    return parsed;
  }
};
const sysfs = (path) => readFileSync(path, 'utf8');
// Another file, read as FILE above (an envelope with its events when it is one).
const json = (path) => load(path);
// eslint-disable-next-line no-new-func
const evaluate = (r, expr) => new Function('r', 'deq', 'sysfs', 'json', `return (${expr});`)(r, deq, sysfs, json);

function checkOne(desc, file, expr) {
  let r;
  let v;
  try {
    r = load(file);
    v = evaluate(r, expr);
  } catch (error) {
    console.log(`FAIL ${desc}: ${error.message}`);
    return false;
  }
  if (v) {
    console.log(`ok   ${desc}`);
    return true;
  }
  console.log(`FAIL ${desc}: ${expr} is ${JSON.stringify(v)}; file ${file}:`);
  console.log(JSON.stringify(r, null, 1).slice(0, 3000));
  return false;
}

if (mode === 'batch') {
  let failed = 0;
  let text = '';
  try {
    text = readFileSync(args[0], 'utf8');
  } catch {
    process.exit(0);
  }
  for (const rec of text.split('\x1e')) {
    if (!rec.trim()) continue;
    const [desc, file, expr] = rec.replace(/^\n/, '').split('\x1f');
    if (!checkOne(desc, file, expr)) failed++;
  }
  process.exit(failed ? 1 : 0);
} else if (mode === 'get') {
  const v = evaluate(load(args[0]), args[1]);
  console.log(typeof v === 'string' ? v : JSON.stringify(v));
} else if (mode === 'check') {
  process.exit(checkOne(...args) ? 0 : 1);
} else {
  console.error('usage: jq.mjs get FILE EXPR | check DESC FILE EXPR | batch QUEUE');
  process.exit(2);
}
