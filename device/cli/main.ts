import { ConfigError } from '../config/config-error.ts';
import { EXIT_CONFIG } from '../config/load-config.ts';
import { USAGE, UsageError } from './usage.ts';

type Command = (argv: string[]) => Promise<number | void>;

// Loaded on demand so that `check-config` or `users list` never pays for onnxruntime and sharp.
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.ts')).serveCommand,
  enroll: async () => (await import('./user-commands.ts')).enrollCommand,
  users: async () => (await import('./user-commands.ts')).usersCommand,
  classify: async () => (await import('./classify.ts')).classifyCommand,
  doctor: async () => (await import('./doctor.ts')).doctorCommand,
  bench: async () => (await import('./bench.ts')).benchCommand,
  learn: async () => (await import('./learn.ts')).learnCommand,
  'check-config': async () => (await import('./check-config.ts')).checkConfigCommand,
};

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  try {
    const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!load) throw new UsageError(`unknown command "${name}"`);
    if (rest.includes('--help')) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const command = await load();
    return (await command(rest)) ?? 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`vegkiosk: config: ${line}\n`);
      return EXIT_CONFIG;
    }
    if (err instanceof UsageError) {
      // SPEC: an error is one line; the full usage is one `--help` away.
      process.stderr.write(`vegkiosk: ${err.message} (vegkiosk --help lists the commands and flags)\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`vegkiosk ${name}: ${message}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
}

// A stray asynchronous error (a stream, a timer) ends the process as a runtime failure: one line, exit 1
// (systemd restarts serve), the stack only with --debug; never Node's own trace.
function exitOnStrayError(err: unknown): never {
  process.stderr.write(`vegkiosk: unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.argv.includes('--debug') && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
  process.exit(1);
}
process.on('uncaughtException', exitOnStrayError);
process.on('unhandledRejection', exitOnStrayError);

process.exitCode = await main(process.argv.slice(2));
