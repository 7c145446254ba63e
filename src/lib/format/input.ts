import {open} from 'node:fs/promises';

import {InputError} from '../errors.js';

const utf8 = new TextDecoder('utf-8', {fatal: true});

function decode(bytes: Buffer, name: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InputError(`${name}: not UTF-8 text`, 'NOT_TEXT');
  }
}

async function readStdin(limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) throw new InputError(`stdin: larger than ${limit} bytes; not a ${what}`, 'TOO_LARGE');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * The one way input documents are read: a file (or stdin for `-`) as UTF-8 text, refused
 * before it is read when it is not a regular file or larger than `limit`; every error names
 * the file and what it was meant to be.
 */
export async function readInputText(file: string, limit: number, what: string): Promise<string> {
  if (file === '-') return decode(await readStdin(limit, what), 'stdin');
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new InputError(`${file}: cannot read ${what}: ${code === 'ENOENT' ? 'no such file' : code}`, code);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputError(`${file}: not a regular file; not a ${what}`, 'NOT_FILE');
    if (info.size > limit) throw new InputError(`${file}: larger than ${limit} bytes; not a ${what}`, 'TOO_LARGE');
    return decode(await handle.readFile(), file);
  } finally {
    await handle.close();
  }
}
