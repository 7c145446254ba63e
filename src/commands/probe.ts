import {existsSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {deviceInterfaceFlag} from '../cli/device-interface.js';
import {escapeField, fields} from '../cli/render.js';
import {InputError} from '../lib/errors.js';
import {checkInputFile} from '../lib/format/input.js';
import {
  captureProbe,
  type CaptureResult,
  DEFAULT_MAX_STOP_MS,
  DEFAULT_PROBE_MAX_BYTES,
  judgeProbe,
  PROBE_MAX_BYTES_LIMIT,
  type ProbeVerdict,
} from '../lib/probe/index.js';

export interface ProbeResult {
  capture: CaptureResult | null;
  verdict: ProbeVerdict | null;
}

export default class Probe extends BaseCommand<typeof Probe, ProbeResult> {
  static override summary = "Ask the destination's own driver whether it takes the source's state, without stopping the source.";
  static override description =
    'Reads the first bytes of the source\'s migration data while it keeps running (RUNNING -> PRE_COPY -> ' +
    'RUNNING; at most --max-bytes of its initial bytes) and writes them into a scratch destination in ' +
    'RESUMING: an mdev of the candidate type created for the probe and removed after (also on failure and on ' +
    'SIGINT/SIGTERM), or a free device you name. A write the driver refuses means not compatible, with its ' +
    'errno; the scratch device is then reset. The probe does not ask for RESUMING -> STOP: drivers refuse an ' +
    'incomplete state there, so that arc cannot tell incompatible from incomplete.\n\n' +
    'Across hosts: `--source DEV --out FILE` on the source host makes a small probe file (the stream format, ' +
    'with the source\'s header), `--in FILE --dest TYPE|DEV` on the destination host judges it. A source ' +
    'without PRE_COPY must be stopped for the read: only with --allow-source-stop, for at most --max-stop-ms, ' +
    'and it is always returned to RUNNING. Devices in use are never touched.\n\n' +
    'Exit codes: 0 compatible (or the probe file written), 1 not compatible, 2 usage or input error (a ' +
    'device in use, a source without PRE_COPY and no --allow-source-stop, a bad probe file), 3 runtime ' +
    'failure with every device usable, 4 a device needed a reset, 5 recovery failed.';

  static override examples = [
    '<%= config.bin %> probe --source 50042111-191b-421a-9586-d94555853d83 --dest mtty-2',
    '<%= config.bin %> probe --source 50042111-191b-421a-9586-d94555853d83 --out src.probe    # on the source host',
    '<%= config.bin %> probe --in src.probe --dest mtty-1                                      # on the destination host',
  ];

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    source: Flags.string({description: 'the source device (mdev UUID or PCI address) on this host', exclusive: ['in']}),
    in: Flags.string({description: "a probe file made on the source's host with --source DEV --out FILE", exclusive: ['source', 'out']}),
    dest: Flags.string({description: 'a candidate type ([parent/]type: a scratch mdev is created) or a free device', exclusive: ['out']}),
    out: Flags.string({description: 'write the probe file here instead of judging (with --source)'}),
    'max-bytes': Flags.integer({description: `read at most this many of the source's initial bytes (default ${DEFAULT_PROBE_MAX_BYTES})`, min: 1, max: PROBE_MAX_BYTES_LIMIT}),
    'allow-source-stop': Flags.boolean({description: 'a source without PRE_COPY may be STOPPED for the read (never by default)'}),
    'max-stop-ms': Flags.integer({description: `with --allow-source-stop: the source is back in RUNNING within this many ms (default ${DEFAULT_MAX_STOP_MS})`, min: 1, max: 600_000}),
  };

  protected async execute(): Promise<Outcome<ProbeResult>> {
    const f = this.flags;
    if (!f.source && !f.in) throw new InputError('probe: give --source DEV (this host) or --in FILE (a probe file)', 'USAGE');
    if (f.in && !f.dest) throw new InputError('probe: --in FILE needs --dest TYPE|DEV', 'USAGE');
    // The engine reads the file: a FIFO would block it (issue #12 item 3); refused here, exit 2.
    // A missing file is left to the probe's own checks, which come in their order.
    if (f.in && f.in !== '-' && existsSync(f.in)) await checkInputFile(f.in, 'probe file');
    if (f.source && !f.dest && !f.out) throw new InputError('probe: --source DEV needs --dest TYPE|DEV, or --out FILE to make a probe file', 'USAGE');
    const sysfs = this.sysfs();
    let capture: CaptureResult | null = null;
    let verdict: ProbeVerdict | null = null;
    let temp: string | undefined;
    try {
      let input = f.in;
      if (f.source) {
        if (!f.out) temp = await mkdtemp(path.join(tmpdir(), 'vfio-mig-probe-'));
        const out = f.out ?? path.join(temp!, 'source.probe');
        capture = await captureProbe({
          sysfs,
          deviceInterface: f['device-interface'],
          device: f.source,
          out,
          ...(f['max-bytes'] === undefined ? {} : {maxBytes: f['max-bytes']}),
          allowSourceStop: f['allow-source-stop'],
          ...(f['max-stop-ms'] === undefined ? {} : {maxStopMs: f['max-stop-ms']}),
        });
        if (temp) capture.file = null;
        input = out;
      }
      if (f.dest) verdict = await judgeProbe({sysfs, deviceInterface: f['device-interface'], dest: f.dest, input: input!});
    } finally {
      if (temp) await rm(temp, {recursive: true, force: true});
    }
    const result: ProbeResult = {capture, verdict};
    return {result, exitCode: verdict && !verdict.compatible ? 1 : 0, human: () => renderProbe(result)};
  }
}

/** The human rendering (exported for its escaping test). */
export function renderProbe(r: ProbeResult): string {
  const lines: string[] = [];
  const c = r.capture;
  if (c) {
    lines.push(
      fields([
        ['source', c.device],
        ['read', `${c.bytes} bytes in ${c.mode === 'pre_copy' ? 'PRE_COPY' : 'STOP_COPY'}${c.initial_bytes === null ? '' : ` (initial bytes ${c.initial_bytes}${c.truncated ? `, capped at ${c.max_bytes}` : ''})`}`],
        ['source states', c.source_states.join(' -> ')],
        ['stopped for', c.stopped_ms === undefined ? undefined : `${c.stopped_ms} ms`],
        ['probe file', c.file === null ? undefined : escapeField(c.file)],
      ]),
    );
  }
  const v = r.verdict;
  if (v) {
    const dest = v.destination.kind === 'type' ? `type ${escapeField(`${v.destination.parent}/${v.destination.type_id}`)}` : `device ${v.destination.device}`;
    lines.push(
      `${v.compatible ? 'compatible' : 'NOT compatible'} (the destination's driver judged): ${escapeField(v.source.host)}/${escapeField(v.source.device)} -> ${escapeField(v.destination.host)} ${dest}`,
    );
    for (const reason of v.reasons) lines.push(`  ${reason.code}  ${escapeField(reason.message)}`);
    lines.push(
      fields([
        ['scratch', `${v.scratch.device}${v.scratch.created ? ` (created${v.scratch.removed ? ', removed' : ', NOT removed'})` : ''}, ${v.scratch.final_state} after reset`],
        ['bytes accepted', v.bytes_accepted ?? undefined],
      ]),
    );
  }
  return lines.join('\n');
}
