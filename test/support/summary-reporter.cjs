// Mocha's spec output for people, plus one "N passed, N failed" line for CI, written to the file named
// by VEGKIOSK_TEST_SUMMARY (so .ci/run can print it last) and always echoed at the end of the run.
const Mocha = require('mocha');
const fs = require('node:fs');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once('end', () => {
      const s = runner.stats || {};
      const line = `${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped`;
      if (process.env.VEGKIOSK_TEST_SUMMARY) fs.writeFileSync(process.env.VEGKIOSK_TEST_SUMMARY, line + '\n');
      console.log(line);
    });
  }
}
module.exports = SummaryReporter;
