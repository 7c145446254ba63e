/**
 * Node Feature Discovery "local" feature files: `<name>[=<value>]` per line (`true` when no
 * value), `#` comments, `# +expiry-time=<RFC3339>`; NFD ignores files over 64 KiB and
 * dot-files, so a file is written as `.<name>` and renamed into place.
 */
import {randomBytes} from 'node:crypto';
import {rename, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';

import {RuntimeFailure} from '../errors.js';
import {isLabelName, isLabelValue, LABEL_NAMESPACE} from './names.js';

/** NFD ignores a feature file larger than this. */
export const MAX_FEATURE_FILE_BYTES = 64 * 1024;

export const DEFAULT_FEATURES_DIR = '/etc/kubernetes/node-feature-discovery/features.d';

/** The feature file text for `labels` (names without the namespace), expiring at `expiry`. */
export function renderFeatureFile(labels: ReadonlyMap<string, string>, options: {host: string; expiry: Date; generated: Date}): string {
  const lines = [
    `# vfio-mig labels for ${options.host.replace(/[^\x20-\x7e]/g, '?')}, written ${options.generated.toISOString()} by \`vfio-mig labels\`.`,
    '# Encoding: docs/fleet.md. Do not edit: the next refresh replaces this file.',
    `# +expiry-time=${options.expiry.toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
  ];
  for (const [name, value] of labels) {
    // The encoding guarantees both; a failure here is a bug, not bad input.
    if (!isLabelName(name) || !isLabelValue(value)) throw new Error(`internal: bad label ${name}=${value}`);
    lines.push(`${LABEL_NAMESPACE}/${name}=${value}`);
  }
  const text = `${lines.join('\n')}\n`;
  const bytes = Buffer.byteLength(text);
  if (bytes >= MAX_FEATURE_FILE_BYTES) {
    throw new RuntimeFailure(
      `the labels of ${options.host} take ${bytes} bytes, NFD ignores feature files of 64 KiB or more; lower --max-units or simplify the metadata`,
      'TOO_LARGE',
    );
  }
  return text;
}

/**
 * Parse a feature file as NFD's local source reads it: labels by full name, and the
 * directives. For tests and `labels --check`; written from the NFD documentation.
 */
export function parseFeatureFile(text: string): {labels: Map<string, string>; expiry: string | undefined; noLabel: boolean} {
  const labels = new Map<string, string>();
  let expiry: string | undefined;
  let noLabel = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const directive = /^#\s*\+([a-z-]+)(?:=(.*))?$/.exec(line);
      if (directive?.[1] === 'expiry-time') expiry = directive[2];
      if (directive?.[1] === 'no-label') noLabel = true;
      continue;
    }
    const eq = line.indexOf('=');
    const name = eq === -1 ? line : line.slice(0, eq);
    const value = eq === -1 ? 'true' : line.slice(eq + 1);
    labels.set(name.includes('/') ? name : `feature.node.kubernetes.io/${name}`, value);
  }
  return {labels, expiry, noLabel};
}

/** Write `text` to `dir/name` atomically: `.name.<random>` first (ignored by NFD), then rename. */
export async function writeAtomic(dir: string, name: string, text: string): Promise<string> {
  const target = path.join(dir, name);
  const temp = path.join(dir, `.${name}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(temp, text, {mode: 0o644, flag: 'wx'});
    await rename(temp, target);
  } catch (error) {
    await rm(temp, {force: true});
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new RuntimeFailure(`${target}: cannot write: ${code}`, code);
  }
  return target;
}

/** `90m`, `2h`, `1h30m`, `3600s` as milliseconds; undefined when malformed or zero. */
export function parseDuration(text: string): number | undefined {
  const m = /^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,8})s)?$/.exec(text);
  if (!m || text === '') return undefined;
  const ms = ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
  return ms > 0 ? ms : undefined;
}
