import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * scripts/soak.ts works end to end on a run of a few seconds: the real service with WebSocket
 * clients receiving results and frames, samples of RSS, heap and descriptors, a report. A few
 * seconds say nothing about leaks, so only sanity is checked here; the real figures come from
 * `npx tsx scripts/soak.ts --minutes 10 --clients 4` (README).
 */
describe('soak script (short run)', function () {
  this.timeout(90_000);

  it('runs the real service with subscribed clients, samples RSS/heap/fds and reports growth as JSON', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('scripts/soak.ts'),
      '--minutes', '0.15', '--clients', '2', '--sample-seconds', '1', '--churn-seconds', '2', '--warmup-minutes', '0.05',
      '--camera', 'synthetic', '--fps', '10', '--json', '--max-growth-pct', '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
    expect(code, stderr).to.equal(0);

    const lines = stdout.trim().split('\n');
    expect(lines, 'one JSON line').to.have.length(1);
    const report = JSON.parse(lines[0]);
    expect(report.sampleCount).to.be.at.least(5);
    for (const point of [report.start, report.afterWarmup, report.end]) {
      expect(point.rssMb).to.be.within(20, 4000);
      expect(point.heapMb).to.be.within(1, 2000);
      expect(point.fds).to.be.within(5, 1000);
    }
    expect(report.afterWarmup.atS).to.be.at.least(report.start.atS);
    expect(report.end.atS).to.be.at.least(report.afterWarmup.atS);
    for (const g of Object.values(report.growthPct)) expect(g as number).to.be.a('number').and.satisfy(Number.isFinite);
    expect(report.resultsReceived, 'results over the WebSockets').to.be.greaterThan(10);
    expect(report.framesReceived, 'subscribed JPEG frames').to.be.greaterThan(10);
    expect(report.clientsReplaced).to.be.at.least(1);
    expect(report.serviceExit).to.deep.equal({ code: 0, signal: null });
    expect(report.pass).to.be.a('boolean');
  });
});
