// A real Mosquitto for the fleet tests: on 127.0.0.1 and a free port, with a password file and
// persistence in a temp directory, so it can be stopped and started again with its sessions and
// queued messages intact. Every start is tracked by the caller's Teardown; stop() is idempotent.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cli.ts';
import { mosquittoPath } from './test-programs.ts';

export interface BrokerOptions {
  users?: Record<string, string>;
  /** PEM files for a TLS listener (mqtts) instead of plain MQTT. */
  tls?: { cert: string; key: string };
}

export class Mosquitto {
  private child: ChildProcess | null = null;
  private log = '';
  readonly dir: string;

  private constructor(readonly port: number, private readonly options: BrokerOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'vegkiosk-mosquitto-'));
  }

  /** Makes the directory and config; start() runs it. */
  static async create(options: BrokerOptions = {}): Promise<Mosquitto> {
    const broker = new Mosquitto(await freePort(), options);
    broker.writeConfig();
    return broker;
  }

  get url(): string {
    return `${this.options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the broker and waits until it accepts TCP connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(mosquittoPath()!, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (this.log += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.log += c));
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (!this.child) throw new Error(`mosquitto exited at start: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen within 10 s: ${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM (mosquitto saves its persistence file), then waits for the exit; SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(kill);
    this.child = null;
  }

  /** Stops the broker and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  get output(): string {
    return this.log;
  }

  private writeConfig(): void {
    const users = this.options.users ?? {};
    const passwd = join(this.dir, 'passwd');
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      // Started as root, mosquitto drops to the mosquitto user, who could not read this temp dir.
      'user root',
      'persistence true',
      `persistence_location ${this.dir}/`,
      'autosave_interval 1',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'max_queued_messages 100000',
      'allow_anonymous false',
    ];
    writeFileSync(passwd, '');
    for (const [user, password] of Object.entries(users)) {
      const r = spawnSync('mosquitto_passwd', ['-b', passwd, user, password], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
    }
    chmodSync(passwd, 0o600);
    lines.push(`password_file ${passwd}`);
    if (this.options.tls) lines.push(`certfile ${this.options.tls.cert}`, `keyfile ${this.options.tls.key}`);
    writeFileSync(join(this.dir, 'mosquitto.conf'), lines.join('\n') + '\n');
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
