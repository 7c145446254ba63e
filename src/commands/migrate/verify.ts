import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields, plural} from '../../cli/render.js';
import {checkInputFile} from '../../lib/format/input.js';
import {parseHeader, type StreamHeader} from '../../lib/migrate/header.js';
import {startEngine} from '../../lib/migrate/session.js';

export interface VerifyResult {
  input: string;
  header: StreamHeader;
  payload_bytes: number;
  chunks: number;
  stream_bytes: number;
}

export default class MigrateVerify extends BaseCommand<typeof MigrateVerify, VerifyResult> {
  static override summary = 'Check a saved state stream: framing, every chunk checksum, the trailer.';
  static override description = 'Reads the whole stream without a device.' + exitCodes({0: 'the stream is intact', 3: 'the stream is corrupt ("stream corrupt at byte N")'});
  static override examples = ['<%= config.bin %> migrate verify --in gpu.state'];
  static override flags = {in: Flags.string({required: true, description: 'file to read, or - for stdin'})};

  protected async execute(): Promise<Outcome<VerifyResult>> {
    const input = this.flags.in;
    // The engine reads the file; a FIFO would block it and a directory fail as "read: Is a
    // directory": refused here, exit 2, as every other input.
    if (input !== '-') await checkInputFile(input, 'state stream');
    const engine = await startEngine(input === '-' ? 0 : undefined);
    try {
      const checked = await engine.request('verify', input === '-' ? {in_fd: 3} : {in_path: input});
      const header = parseHeader(checked.header ?? 'null', input);
      const result = {input, header, payload_bytes: checked.payload_bytes, chunks: checked.chunks, stream_bytes: checked.stream_bytes};
      return {
        result,
        exitCode: 0,
        human: () =>
          fields([
            ['stream', `${input}: intact`],
            ['source', `${header.source.host}/${header.source.device}`],
            ['model', header.param_list?.model ?? '(no migration metadata)'],
            ['payload', `${result.payload_bytes} bytes in ${plural(result.chunks, 'chunk')}`],
          ]),
      };
    } finally {
      await engine.close();
    }
  }
}
