import type {MigrationEvent} from '../lib/migrate/session.js';

const MiB = 1024 * 1024;

function size(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(1)} MiB`;
}

/**
 * What the migrate commands do with events: JSON lines with --json (on the stream the
 * envelope goes to), a progress bar on a terminal, nothing otherwise.
 */
export function eventSink(options: {json: boolean; stream: NodeJS.WriteStream}): {onEvent: (ev: MigrationEvent) => void; done: () => void} {
  const {json, stream} = options;
  if (json) {
    return {
      onEvent: (ev) => stream.write(`${JSON.stringify({apiVersion: 'vfio-mig/v1', ...ev})}\n`),
      done: () => undefined,
    };
  }
  if (!stream.isTTY) return {onEvent: () => undefined, done: () => undefined};
  let drawn = false;
  let last = 0;
  return {
    onEvent: (ev) => {
      if (ev.event === 'step') {
        stream.write(`${drawn ? '\n' : ''}${ev.device}: ${ev.from} -> ${ev.to}\n`);
        drawn = false;
        return;
      }
      if (ev.event === 'precopy') {
        stream.write(`${drawn ? '\n' : ''}${ev.device}: pre-copy round ${ev.round}: ${size(ev.bytes)} (pending ${size(ev.initial_bytes)} initial, ${size(ev.dirty_bytes)} dirty)\n`);
        drawn = false;
        return;
      }
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const width = 30;
      const fraction = ev.estimate ? Math.min(1, ev.bytes / ev.estimate) : undefined;
      const bar =
        fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}] `;
      const total = ev.estimate ? ` / ${size(ev.estimate)}` : '';
      const eta = ev.eta_ms === undefined ? '' : `  ETA ${Math.ceil(ev.eta_ms / 1000)}s`;
      stream.write(`\r${ev.phase.padEnd(9)} ${bar}${size(ev.bytes)}${total}  ${size(ev.rate)}/s${eta}\x1b[K`);
      drawn = true;
    },
    done: () => {
      if (drawn) stream.write('\n');
    },
  };
}

/** Run a migration with its events shown (see eventSink); the bar is closed however it ends. */
export async function withEvents<T>(
  options: {json: boolean; stream: NodeJS.WriteStream},
  run: (onEvent: (ev: MigrationEvent) => void) => Promise<T>,
): Promise<T> {
  const sink = eventSink(options);
  try {
    return await run(sink.onEvent);
  } finally {
    sink.done();
  }
}
