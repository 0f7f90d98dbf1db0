/** A mistake in how the command was called: exit 2 with the usage line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `usage: vegkiosk <command> [options]

commands:
  serve                                   run the service (what npm start runs)
  enroll <user> [--role admin|technician|viewer]
                                          create a user; prints its otpauth URI and QR code once
  users list | users remove <user>        user administration
  classify <image-or-dir>... [--model F] [--ep LIST] [--min-score S] [--json]
                                          run the model on image files; --min-score replaces the
                                          manifest's score threshold (0..1; evaluation uses 0.01)
  learn <label> <image-or-dir>... | learn --list | learn --forget <label>  [--json]
                                          teach the kiosk a class from example photos (a running
                                          service uses it at once), list learned classes, forget one
  bench [--model F] [--frames N] [--ep LIST] [--prepare-ahead N] [--json]
                                          measure each stage alone and the full pipeline
  doctor [--root DIR]                     board, cameras, execution providers and the choices made
  check-config                            validate configuration (exit 0, or 78 with one line per problem)

global options: --debug (stack traces on errors), --help`;

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

/**
 * Parses `--name value`, `--name=value` and bare `--flag`. `booleans` lists flags that never take a
 * value, so `--json file.jpg` keeps file.jpg positional.
 */
export function parseArgs(argv: string[], known: Record<string, 'boolean' | 'value'>): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const kind = Object.hasOwn(known, name) ? known[name] : undefined;
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'boolean') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (eq !== -1) {
      flags.set(name, arg.slice(eq + 1));
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      flags.set(name, next);
      i++;
    }
  }
  return { positional, flags };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function intFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return Number(v);
}
