import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The programs the tests drive for real, each with how to tell whether it is here and the Debian
 * package that brings it. scripts/install-test-deps.sh installs every one of these packages;
 * scripts/ensure-test-deps.ts (the first step of `npm test`) runs it when one is missing and it may,
 * and test/support/requires.ts skips the tests that need one that is still missing.
 */
export interface TestProgram {
  /** What a technician would call it in a skip line: "ffmpeg", "/usr/bin/python3 with numpy". */
  name: string;
  debianPackages: string[];
  /** True when the program (or module) can be used here. */
  present(): boolean;
  /**
   * Its absence alone does not make `npm test` run the installer: Mesa comes from bookworm-backports,
   * which the installer may be unable to add, and the run would then try again on every `npm test`.
   */
  installerMayLackIt?: boolean;
  /** Set for a module of the system Python: checked together with the others in one interpreter start. */
  pythonModule?: string;
}

/** The Python the training recipe's tests use: Debian's, never a pyenv or venv one from PATH. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Debian's Chromium, the one test/support/browser.ts launches (never a downloaded browser). */
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks a program up on PATH the way spawn() will. */
export function onPath(program: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, program)));
}

/** Python modules that `/usr/bin/python3 -c 'import …'` cannot import (all of them when there is no python3). */
export function missingPythonModules(modules: readonly string[]): string[] {
  if (!isExecutable(SYSTEM_PYTHON)) return [...modules];
  // One interpreter start for all of them: torch alone takes a second or two to import.
  // A spec without an origin is a namespace package: an empty directory of that name, not the module.
  const probe = 'import importlib.util, sys\nspecs = {m: importlib.util.find_spec(m) for m in sys.argv[1:]}\n' +
    "print(' '.join(m for m, s in specs.items() if s is None or s.origin is None))";
  const r = spawnSync(SYSTEM_PYTHON, ['-c', probe, ...modules], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return [...modules];
  return r.stdout.trim().split(/\s+/).filter(Boolean);
}

/** Mesa's lavapipe (software Vulkan) and the Vulkan loader, which onnxruntime's webgpu provider needs here. */
function hasSoftwareVulkan(): boolean {
  const loader = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']
    .some((dir) => existsSync(join(dir, 'libvulkan.so.1')));
  let icds: string[] = [];
  try {
    icds = readdirSync('/usr/share/vulkan/icd.d');
  } catch {
    // No Vulkan driver installed at all.
  }
  return loader && icds.some((f) => f.startsWith('lvp_icd'));
}

/** The broker binary: on PATH, else Debian's /usr/sbin/mosquitto (not on a plain user's PATH). */
export function mosquittoPath(): string | null {
  if (onPath('mosquitto')) return 'mosquitto';
  return isExecutable('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : null;
}

const pathProgram = (name: string, debianPackage = name): TestProgram => ({
  name, debianPackages: [debianPackage], present: () => onPath(name),
});

const pythonModule = (module: string, debianPackage: string): TestProgram => ({
  name: `${SYSTEM_PYTHON} with ${module}`,
  debianPackages: [debianPackage],
  pythonModule: module,
  present: () => missingPythonModules([module]).length === 0,
});

const PROGRAMS = {
  ffmpeg: pathProgram('ffmpeg'),
  fswebcam: pathProgram('fswebcam'),
  openssl: pathProgram('openssl'),
  // The fleet publisher's tests start their own broker; /usr/sbin is not on every user's PATH.
  mosquitto: { name: 'mosquitto', debianPackages: ['mosquitto'], present: () => mosquittoPath() !== null && onPath('mosquitto_passwd') },
  'mosquitto-clients': pathProgram('mosquitto_sub', 'mosquitto-clients'),
  'systemd-analyze': pathProgram('systemd-analyze', 'systemd'),
  'systemd-notify': pathProgram('systemd-notify', 'systemd'),
  chromium: { name: SYSTEM_CHROMIUM, debianPackages: ['chromium'], present: () => isExecutable(SYSTEM_CHROMIUM) },
  python3: { name: SYSTEM_PYTHON, debianPackages: ['python3'], present: () => isExecutable(SYSTEM_PYTHON) },
  numpy: pythonModule('numpy', 'python3-numpy'),
  torch: pythonModule('torch', 'python3-torch'),
  torchvision: pythonModule('torchvision', 'python3-torchvision'),
  onnx: pythonModule('onnx', 'python3-onnx'),
  flatbuffers: pythonModule('flatbuffers', 'python3-flatbuffers'),
  vulkan: {
    name: "Mesa's software Vulkan (lavapipe)",
    debianPackages: ['mesa-vulkan-drivers', 'libvulkan1'],
    present: hasSoftwareVulkan,
    installerMayLackIt: true,
  },
} satisfies Record<string, TestProgram>;

export type TestProgramId = keyof typeof PROGRAMS;

export const TEST_PROGRAMS: Readonly<Record<TestProgramId, TestProgram>> = PROGRAMS;

/** The command that installs every test program, as the person running the tests would type it. */
export function installCommand(uid = process.getuid?.()): string {
  return `${uid === 0 ? '' : 'sudo '}scripts/install-test-deps.sh`;
}

/** The programs in `ids` that are not here; python modules are probed with one interpreter start. */
export function missingPrograms(ids: readonly TestProgramId[]): TestProgramId[] {
  const program = (id: TestProgramId) => TEST_PROGRAMS[id];
  const modules = ids.flatMap((id) => program(id).pythonModule ?? []);
  const missingModules = new Set(modules.length ? missingPythonModules(modules) : []);
  return ids.filter((id) => {
    const { pythonModule, present } = program(id);
    return pythonModule ? missingModules.has(pythonModule) : !present();
  });
}
