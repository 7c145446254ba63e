import {Command, Errors, Flags, Interfaces} from '@oclif/core';

import {ExitCode, type ExitCodeValue, VfioMigError} from '../lib/errors.js';
import {SysfsRoot} from '../lib/sysfs/root.js';
import {escapeControls} from './render.js';

/** Version of the JSON/YAML envelope every command prints (schemas/output/envelope.schema.json). */
export const ENVELOPE_API_VERSION = 'vfio-mig/v1';

/** What a command hands back: machine data, the verdict as an exit code, and a human rendering. */
export interface Outcome<T> {
  result: T;
  /** 0 yes/success, 1 the check ran and says no. Failures are thrown as VfioMigError. */
  exitCode: 0 | 1;
  human: () => string;
}

export interface Envelope<T> {
  apiVersion: typeof ENVELOPE_API_VERSION;
  command: string;
  status: 'ok' | 'no' | 'error';
  exitCode: number;
  result?: T;
  error?: {code: string; message: string; details?: Record<string, unknown>};
}

/** Errors print as one line; oclif's parse errors open with a header line that says nothing. */
function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^The following errors? occurred:?$/.test(l) && !/^See more help with/.test(l));
  return lines.join(' ') || 'error';
}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/**
 * The one base of every command: `--json`/`--yaml` output in a versioned envelope, the
 * sysfs root, and the error-to-exit-code mapping. Commands implement `execute()` and stay thin.
 */
export abstract class BaseCommand<T extends typeof Command, R> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    yaml: Flags.boolean({
      description: 'Format output as YAML (the same envelope as --json).',
      exclusive: ['json'],
      helpGroup: 'GLOBAL',
    }),
    'sysfs-root': Flags.string({
      description: 'Root directory holding sys/ (and dev/, proc/), as mdevctl does.',
      env: 'VFIO_MIG_SYSFS_ROOT',
      default: '/',
      helpGroup: 'GLOBAL',
    }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;

  protected abstract execute(): Promise<Outcome<R>>;

  /** Commands that stream JSON-lines events print their envelope as one line too. */
  protected jsonLines = false;

  /** True when stdout carries data (`--out -`): then every message goes to stderr. */
  protected stdoutIsData = false;

  /** Where output and the envelope go. */
  protected get out(): NodeJS.WriteStream {
    return this.stdoutIsData ? process.stderr : process.stdout;
  }

  public override async init(): Promise<void> {
    await super.init();
    const {flags, args, argv} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.args = args as BaseArgs<T>;
    this.argList = argv as string[];
  }

  /** Every positional argument, in order (for commands with `strict = false`, several devices). */
  protected argList: string[] = [];

  /** The sysfs root chosen by `--sysfs-root` or `VFIO_MIG_SYSFS_ROOT`. */
  protected sysfs(): SysfsRoot {
    return new SysfsRoot(this.flags['sysfs-root']);
  }

  protected get wantsYaml(): boolean {
    return this.flags.yaml === true;
  }

  public async run(): Promise<void> {
    const outcome = await this.execute();
    const status = outcome.exitCode === 0 ? 'ok' : 'no';
    if (this.jsonEnabled() || this.wantsYaml) {
      await this.printEnvelope({
        apiVersion: ENVELOPE_API_VERSION,
        command: this.commandName(),
        status,
        exitCode: outcome.exitCode,
        result: outcome.result,
      });
    } else {
      const text = escapeControls(outcome.human());
      if (text !== '') this.out.write(text.endsWith('\n') ? text : `${text}\n`);
    }
    if (outcome.exitCode !== 0) this.exit(outcome.exitCode);
  }

  public override async catch(err: Error & {oclif?: {exit?: number}}): Promise<never> {
    if (err instanceof Errors.ExitError) throw err;
    let exitCode: ExitCodeValue | number;
    let code: string;
    let details: Record<string, unknown> | undefined;
    if (err instanceof VfioMigError) {
      exitCode = err.exitCode;
      code = err.code;
      details = err.details;
    } else if (typeof err.oclif?.exit === 'number') {
      // oclif's own parse errors: usage.
      exitCode = ExitCode.input;
      code = 'USAGE';
    } else {
      exitCode = ExitCode.runtime;
      code = 'INTERNAL';
    }
    const message = oneLine(err.message);
    if (this.jsonEnabled() || this.yamlRequested()) {
      await this.printEnvelope({
        apiVersion: ENVELOPE_API_VERSION,
        command: this.commandName(),
        status: 'error',
        exitCode,
        error: details === undefined ? {code, message} : {code, message, details},
      });
    } else {
      // Messages quote names and pointers from files: escaped as human output is.
      process.stderr.write(`vfio-mig: ${escapeControls(message)}\n`);
      if (code === 'INTERNAL' && process.env.DEBUG) process.stderr.write(`${err.stack ?? ''}\n`);
    }
    this.exit(exitCode);
  }

  /** `fsm:path` as users type it: `fsm path`. */
  private commandName(): string {
    return (this.id ?? '').replaceAll(':', ' ');
  }

  private yamlRequested(): boolean {
    // Flags may not have been parsed when the error came from parsing itself.
    return this.flags?.yaml === true || this.argv.includes('--yaml');
  }

  private async printEnvelope(envelope: Envelope<R>): Promise<void> {
    if (this.jsonEnabled()) {
      this.out.write(`${this.jsonLines ? JSON.stringify(envelope) : JSON.stringify(envelope, null, 2)}\n`);
      return;
    }
    const {toYaml} = await import('../lib/format/yaml.js');
    this.out.write(toYaml(envelope));
  }
}
