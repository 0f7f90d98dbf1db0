import { expect } from 'chai';
import { planTestDeps, type Machine } from '../scripts/ensure-test-deps.ts';

const machine = (over: Partial<Machine>): Machine => ({ uid: 1000, passwordlessSudo: () => false, hasApt: true, ...over });

describe('npm test: the programs the tests drive (scripts/ensure-test-deps.ts)', () => {
  it('does nothing when everything is installed', () => {
    expect(planTestDeps([], machine({ uid: 0 }))).to.deep.equal({ action: 'nothing' });
  });

  it('installs with install-test-deps.sh as root, and through sudo -n with passwordless sudo', () => {
    const root = planTestDeps(['ffmpeg', 'numpy'], machine({ uid: 0 }));
    expect(root.action).to.equal('install');
    expect(root.action === 'install' && root.command.join(' ')).to.match(/^bash \S+\/scripts\/install-test-deps\.sh$/);
    const sudo = planTestDeps(['chromium'], machine({ passwordlessSudo: () => true }));
    expect(sudo.action === 'install' && sudo.command.slice(0, 3)).to.deep.equal(['sudo', '-n', 'bash']);
  });

  it('without root or passwordless sudo, skips and names the command to run', () => {
    const plan = planTestDeps(['fswebcam'], machine({}));
    expect(plan).to.deep.include({ action: 'skip', missing: ['fswebcam'] });
    expect(plan.action === 'skip' && plan.why).to.include('sudo scripts/install-test-deps.sh');
  });

  it('Mesa alone missing does not start the installer on every run (backports may be out of reach)', () => {
    expect(planTestDeps(['vulkan'], machine({ uid: 0 })).action).to.equal('skip');
  });

  it('without apt-get it does not try', () => {
    expect(planTestDeps(['ffmpeg'], machine({ uid: 0, hasApt: false })).action).to.equal('skip');
  });
});
