import {open} from 'node:fs/promises';

import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields, plural} from '../../cli/render.js';
import {StreamCorruptError} from '../../lib/engine/errors.js';
import {RuntimeFailure} from '../../lib/errors.js';
import {checkInputFile} from '../../lib/format/input.js';
import {announcedHeaders, checkMemberHeader, parseHeader, type StreamHeader} from '../../lib/migrate/header.js';
import {startEngine} from '../../lib/migrate/session.js';

export interface VerifiedMember {
  header: StreamHeader;
  payload_bytes: number;
  chunks: number;
  stream_bytes: number;
}

export interface VerifyResult {
  input: string;
  /** The first (or only) device's header; a group stream's announces the others. */
  header: StreamHeader;
  /** Totals over every device the stream holds. */
  payload_bytes: number;
  chunks: number;
  stream_bytes: number;
  /** A group stream: each device, in stream order. */
  members?: VerifiedMember[];
}

export default class MigrateVerify extends BaseCommand<typeof MigrateVerify, VerifyResult> {
  static override summary = 'Check a saved state stream: framing, every chunk checksum, the trailer.';
  static override description =
    'Reads the whole stream without a device. A group stream (several devices saved together) is checked ' +
    'member by member, each against the header the first one announced; a corruption is reported at its ' +
    'byte in the whole stream.' +
    exitCodes({0: 'the stream is intact', 3: 'the stream is corrupt ("stream corrupt at byte N")'});
  static override examples = ['<%= config.bin %> migrate verify --in gpu.state'];
  static override flags = {in: Flags.string({required: true, description: 'file to read, or - for stdin'})};

  protected async execute(): Promise<Outcome<VerifyResult>> {
    const input = this.flags.in;
    // The engine reads the file; a FIFO would block it and a directory fail as "read: Is a
    // directory": refused here, exit 2, as every other input.
    if (input !== '-') await checkInputFile(input, 'state stream');
    // One open file for every member; an engine per member (it closes its descriptor when done),
    // each going on where the previous one stopped reading.
    const file = input === '-' ? undefined : await open(input, 'r');
    const fd = file ? file.fd : 0;
    let base = 0;
    const verifyAt = async (checkEof: boolean) => {
      const engine = await startEngine(fd);
      try {
        return await engine.request('verify', {in_fd: 3, check_eof: checkEof});
      } catch (error) {
        if (!(error instanceof StreamCorruptError) || base === 0) throw error;
        // Offsets count from the member's start: report the byte in the whole stream.
        throw new RuntimeFailure(error.message.replace(/at byte \d+/, `at byte ${base + error.offset}`), 'STREAM_CORRUPT', {offset: base + error.offset});
      } finally {
        await engine.close();
      }
    };
    try {
      const first = await verifyAt(false);
      const header = parseHeader(first.header ?? 'null', input);
      const count = header.group?.count ?? 1;
      const announced = announcedHeaders(header, count, input);
      const parts: VerifiedMember[] = [{header, payload_bytes: first.payload_bytes, chunks: first.chunks, stream_bytes: first.stream_bytes}];
      base = first.stream_bytes;
      for (let i = 1; i < count; i++) {
        const next = await verifyAt(i === count - 1);
        const h = parseHeader(next.header ?? 'null', input);
        checkMemberHeader(h, announced[i] ?? null, i, input);
        parts.push({header: h, payload_bytes: next.payload_bytes, chunks: next.chunks, stream_bytes: next.stream_bytes});
        base += next.stream_bytes;
      }
      if (count === 1) await nothingAfter(fd, base);
      const sum = (k: 'payload_bytes' | 'chunks' | 'stream_bytes') => parts.reduce((acc, p) => acc + p[k], 0);
      const result: VerifyResult = {
        input,
        header,
        payload_bytes: sum('payload_bytes'),
        chunks: sum('chunks'),
        stream_bytes: sum('stream_bytes'),
        ...(count > 1 ? {members: parts} : {}),
      };
      return {
        result,
        exitCode: 0,
        human: () =>
          fields([
            ['stream', `${input}: intact${count > 1 ? ` (${count} devices)` : ''}`],
            ...parts.flatMap((p): [string, string][] => [
              ['source', `${p.header.source.host}/${p.header.source.device}`],
              ['model', p.header.param_list?.model ?? '(no migration metadata)'],
              ...(count > 1 ? [['payload', `${p.payload_bytes} bytes in ${plural(p.chunks, 'chunk')}`] as [string, string]] : []),
            ]),
            ['payload', `${result.payload_bytes} bytes in ${plural(result.chunks, 'chunk')}${count > 1 ? ' (all devices)' : ''}`],
          ]),
      };
    } finally {
      await file?.close();
    }
  }
}

/**
 * A one-device stream ends at its trailer. The member was read without the engine's end
 * check (it could have been a group's first): the next read must find the end of input.
 */
async function nothingAfter(fd: number, end: number): Promise<void> {
  const engine = await startEngine(fd);
  try {
    await engine.request('verify', {in_fd: 3, check_eof: true});
  } catch (error) {
    if (error instanceof StreamCorruptError && error.offset === 0 && /end of input/.test(error.message)) return;
  } finally {
    await engine.close();
  }
  throw new RuntimeFailure(`stream corrupt at byte ${end}: unexpected data after the trailer`, 'STREAM_CORRUPT', {offset: end});
}
