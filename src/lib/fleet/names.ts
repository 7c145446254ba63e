/**
 * How vfio-mig facts become Kubernetes label names and values and Nova trait names, within
 * their limits (docs/fleet.md). Label values: at most 63 characters of
 * `[A-Za-z0-9._-]`, a letter or digit at both ends. Trait names: `CUSTOM_[A-Z0-9_]`.
 *
 * Values are escaped reversibly (`_` -> `__`, any other byte outside `[A-Za-z0-9.-]` -> `_xx`
 * in hex); when the escaped text is too long or does not start and end with a letter or
 * digit, it is replaced by a digest: `h_z` + 26 base32 characters of its SHA-256 (130 bits).
 * An escaped text never starts with `h_z` (`_z` is no escape), so the two cannot collide.
 */
import {createHash} from 'node:crypto';

/** The label namespace (prefix) of every label vfio-mig writes. */
export const LABEL_NAMESPACE = 'vfio-mig.dev';

/** Longest label value and longest name part after the `<namespace>/` prefix. */
export const MAX_LABEL_VALUE = 63;
export const MAX_LABEL_NAME = 63;

const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;
const NAME_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Whether `value` is a valid Kubernetes label value (empty allowed). */
export function isLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value);
}

/** Whether `name` is a valid label name part (after the `<namespace>/` prefix). */
export function isLabelName(name: string): boolean {
  return name.length <= MAX_LABEL_NAME && NAME_PART.test(name);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** The first `chars` base32 characters (5 bits each) of the SHA-256 of `text`. */
export function digest32(text: string, chars = 26): string {
  const bytes = createHash('sha256').update(text, 'utf8').digest();
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
    if (out.length >= chars) break;
  }
  return out;
}

/** The digest form of a value or name part. */
export function digestToken(text: string): string {
  return `h_z${digest32(text)}`;
}

/** Reversible escape into `[A-Za-z0-9._-]`. */
export function escapeText(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (c === '_') out += '__';
    else if (/[A-Za-z0-9.-]/.test(c)) out += c;
    else out += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of escapeText; undefined when `text` is not an escaped text (e.g. a digest). */
export function unescapeText(text: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== '_') {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    if (text[i + 1] === '_') {
      bytes.push(0x5f);
      i++;
      continue;
    }
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
    bytes.push(Number.parseInt(hex, 16));
    i += 2;
  }
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * `text` as (part of) a label value after `prefix`: escaped when the result is a valid
 * value, else the digest form. Injective apart from digest collisions.
 */
export function labelValue(text: string, prefix = ''): string {
  const escaped = `${prefix}${escapeText(text)}`;
  if (isLabelValue(escaped) && escaped !== '') return escaped;
  return `${prefix}${digestToken(text)}`;
}

/**
 * A name segment inside a label name: `<literal>.<text>` when `text` may stand there as
 * itself (it uses only `[A-Za-z0-9._-]` and the whole name fits), else `<digest>.<hash>`.
 * The two tags keep literals and digests apart.
 */
export function nameSegment(text: string, room: number, literal = 'p', digest = 'h'): string {
  if (/^[A-Za-z0-9._-]+$/.test(text) && literal.length + 1 + text.length <= room) return `${literal}.${text}`;
  return `${digest}.${digest32(text)}`;
}

/** A readable, collision-free trait name token: the text upper-cased and an 8-character digest. */
export function traitToken(text: string, readable = 40): string {
  const upper = text
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, readable)
    .replace(/_+$/, '');
  const tag = digest32(text, 8).toUpperCase();
  return upper === '' ? tag : `${upper}_${tag}`;
}

export const TRAIT_NAME = /^CUSTOM_[A-Z0-9_]{1,248}$/;
