// Mocha's spec output for people, plus one "N passed, N failed" line for CI, written to the file named
// by CI_SUMMARY_FILE (so .ci/run can print it last) and always echoed at the end of the run.
const Mocha = require('mocha');
const fs = require('node:fs');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once('end', () => {
      const s = runner.stats || {};
      const line = `${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped`;
      if (process.env.CI_SUMMARY_FILE) fs.writeFileSync(process.env.CI_SUMMARY_FILE, line + '\n');
      console.log(line);
    });
  }
}
module.exports = SummaryReporter;
