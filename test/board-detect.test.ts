import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { detectBoard } from '../device/board/detect-board.ts';

/** Lays out files as the boards' kernels expose them (device-tree strings end in NUL; sysfs temps are millidegrees). */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'vegkiosk-root-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

describe('board detection', () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

  it('recognises a Raspberry Pi from its device-tree model and reads its thermal zone', () => {
    const root = fakeRoot({
      'proc/device-tree/model': 'Raspberry Pi 5 Model B Rev 1.0\0',
      'sys/class/thermal/thermal_zone0/type': 'cpu-thermal\n',
      'sys/class/thermal/thermal_zone0/temp': '51850\n',
    });
    roots.push(root);
    const board = detectBoard(root, 'arm64');
    expect(board.kind).to.equal('raspberry-pi');
    expect(board.model).to.equal('Raspberry Pi 5 Model B Rev 1.0');
    expect(board.temperatures).to.deep.equal([{ zone: 'thermal_zone0', type: 'cpu-thermal', celsius: 51.85 }]);
  });

  it('recognises a Jetson from its device tree, L4T release file and NVIDIA device nodes', () => {
    const root = fakeRoot({
      'proc/device-tree/model': 'NVIDIA Jetson Orin Nano Developer Kit\0',
      'etc/nv_tegra_release': '# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 23:24:25 UTC 2024\n',
      'dev/nvhost-ctrl-gpu': '',
      'dev/nvmap': '',
      'sys/class/thermal/thermal_zone0/type': 'cpu-thermal\n',
      'sys/class/thermal/thermal_zone0/temp': '45500\n',
      'sys/class/thermal/thermal_zone1/type': 'gpu-thermal\n',
      'sys/class/thermal/thermal_zone1/temp': '44250\n',
    });
    roots.push(root);
    const board = detectBoard(root, 'arm64');
    expect(board.kind).to.equal('jetson');
    expect(board.model).to.equal('NVIDIA Jetson Orin Nano Developer Kit');
    expect(board.evidence.join('\n')).to.include('R36 (release)').and.include('/dev/nvmap');
    expect(board.temperatures.map((t) => t.type)).to.deep.equal(['cpu-thermal', 'gpu-thermal']);
  });

  it('falls back to the CPU architecture on a PC', () => {
    const root = fakeRoot({});
    roots.push(root);
    const board = detectBoard(root, 'x64');
    expect(board.kind).to.equal('x86');
    expect(board.temperatures).to.deep.equal([]);
  });
});
