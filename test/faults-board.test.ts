import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { detectBoard } from '../device/board/detect-board.ts';
import { decodeThrottled, runCommand, throttlingLines, type CommandRunner } from '../device/board/pi-throttling.ts';

/**
 * Board faults a kiosk meets in the field: a weak power supply (under-voltage) and a hot enclosure
 * (throttling). Fake roots hold the files as the boards' kernels expose them (device-tree strings
 * NUL-terminated, sysfs values with a newline); vcgencmd output is as the Pi firmware prints it.
 */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vegkiosk-fault-root-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** A recorded vcgencmd: answers get_throttled with `stdout`, and notes how it was called. */
function recorded(stdout: string, status = 0): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  return Object.assign((cmd: string, args: string[]) => {
    calls.push([cmd, ...args].join(' '));
    return { status, stdout, stderr: '' };
  }, { calls });
}

const PI4 = {
  'proc/device-tree/model': 'Raspberry Pi 4 Model B Rev 1.4\0',
  'sys/class/thermal/thermal_zone0/type': 'cpu-thermal\n',
  'sys/class/thermal/thermal_zone0/temp': '83292\n',
};

describe('faults: board throttling (Raspberry Pi firmware flags)', () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  const root = (files: Record<string, string>) => {
    const r = fakeRoot(files);
    roots.push(r);
    return r;
  };

  it('decodes get_throttled: bits 0-3 now, 16-19 since boot', () => {
    // 0x50005: the value the Pi kernel logs as "Under-voltage detected! (0x00050005)" on a weak supply.
    const t = decodeThrottled('throttled=0x50005\n');
    expect(t.hex).to.equal('0x50005');
    expect(t.now).to.deep.equal({ underVoltage: true, armFrequencyCapped: false, throttled: true, softTemperatureLimit: false });
    expect(t.sinceBoot).to.deep.equal({ underVoltage: true, armFrequencyCapped: false, throttled: true, softTemperatureLimit: false });
    expect(t.advice.join('\n')).to.match(/under-voltage now: use the official power supply/).and.match(/CPU throttled now/);

    const healthy = decodeThrottled('throttled=0x0\n');
    expect(healthy.advice).to.deep.equal([]);
    expect(Object.values(healthy.now).concat(Object.values(healthy.sinceBoot!))).to.not.include(true);

    // Hot enclosure earlier today, fine now: frequency capped, throttled and soft limit since boot only.
    const past = decodeThrottled('throttled=0xe0000');
    expect(past.now).to.deep.equal({ underVoltage: false, armFrequencyCapped: false, throttled: false, softTemperatureLimit: false });
    expect(past.sinceBoot).to.deep.equal({ underVoltage: false, armFrequencyCapped: true, throttled: true, softTemperatureLimit: true });
    expect(past.advice.join('\n')).to.match(/was throttled since boot/).and.match(/soft temperature limit since boot/);

    expect(() => decodeThrottled('VCHI initialization failed')).to.throw(/unexpected vcgencmd get_throttled output/);
  });

  it('on a Pi 4, detectBoard runs vcgencmd get_throttled and doctor prints the flags with advice', () => {
    const run = recorded('throttled=0x50005\n');
    const board = detectBoard(root(PI4), 'arm64', run);
    expect(board.kind).to.equal('raspberry-pi');
    expect(run.calls).to.deep.equal(['vcgencmd get_throttled']);
    expect(board.throttling!.problem).to.equal(null);
    expect(board.temperatures[0].celsius).to.equal(83.292);
    const lines = throttlingLines(board.throttling!);
    expect(lines[0]).to.equal('throttling (vcgencmd get_throttled 0x50005): now under-voltage, throttled; since boot under-voltage, throttled');
    expect(lines.slice(1).join('\n')).to.match(/power supply/);
  });

  it('without vcgencmd, reads the kernel hwmon under-voltage alarm (rpi_volt in0_lcrit_alarm) and says what is missing', () => {
    const r = root({
      'proc/device-tree/model': 'Raspberry Pi 5 Model B Rev 1.0\0',
      'sys/class/hwmon/hwmon0/name': 'cpu_thermal\n',
      'sys/class/hwmon/hwmon1/name': 'rpi_volt\n',
      'sys/class/hwmon/hwmon1/in0_lcrit_alarm': '1\n',
    });
    const board = detectBoard(r, 'arm64', () => null);
    const { throttling, problem } = board.throttling!;
    expect(throttling!.source).to.equal('hwmon');
    expect(throttling!.now.underVoltage).to.equal(true);
    expect(throttling!.sinceBoot).to.equal(null);
    expect(problem).to.match(/vcgencmd is not installed/);
    expect(throttlingLines(board.throttling!)[0]).to.equal('throttling (hwmon rpi_volt): now under-voltage');
  });

  it('a vcgencmd the service user may not use is reported with the fix, not thrown', () => {
    // What vcgencmd prints when the user cannot open /dev/vcio.
    const board = detectBoard(root(PI4), 'arm64', recorded('VCHI initialization failed\n', 255));
    expect(board.throttling!.throttling).to.equal(null);
    expect(board.throttling!.problem).to.match(/exit 255: VCHI initialization failed.*video group/);
    expect(throttlingLines(board.throttling!)).to.deep.equal([`throttling unknown: ${board.throttling!.problem}`]);
  });

  it('Jetson and PC: no vcgencmd is run and no throttling is reported', () => {
    const run = recorded('throttled=0x0');
    const jetson = detectBoard(root({ 'proc/device-tree/model': 'NVIDIA Jetson Orin Nano Developer Kit\0' }), 'arm64', run);
    const pc = detectBoard(root({}), 'x64', run);
    expect(jetson.kind).to.equal('jetson');
    expect(pc.kind).to.equal('x86');
    expect(jetson.throttling).to.equal(undefined);
    expect(pc.throttling).to.equal(undefined);
    expect(run.calls).to.deep.equal([]);
  });

  it('the real runner: a missing program is null (ENOENT), a present one gives its output', () => {
    expect(runCommand('vegkiosk-no-such-program', ['get_throttled'])).to.equal(null);
    const r = runCommand('sh', ['-c', 'echo throttled=0x0']);
    expect(r).to.deep.include({ status: 0, stdout: 'throttled=0x0\n' });
    expect(decodeThrottled(r!.stdout).hex).to.equal('0x0');
  });
});
