import { expect } from 'chai';
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../device/config/load-config.ts';
import { lintRepository, lintText } from '../scripts/lint-source.ts';
import { LAYERS } from '../scripts/source-layers.ts';

const rules = (file: string, text: string) => lintText(file, text).map((f) => f.rule);
/** The order as the message states it, top first (cli > server > … > .), from the one list of rows. */
const ORDER = [...LAYERS].reverse().map((row) => row.join(', ')).join(' > ');

describe('CI source checks: imports run downwards through the layers of device/', () => {
  it('flags an import of a higher layer, a value or only a type, static or dynamic', () => {
    // the two that ran against the layers before the config error and the result type moved down
    expect(rules('device/store/results-store.ts', "import type { PipelineResult } from '../pipeline/result-bus.ts';"))
      .to.deep.equal([`layers: store must not import pipeline (above it); imports run downwards only: ${ORDER}`]);
    expect(rules('device/auth/key-files.ts', "import { ServerConfigError } from '../server/errors.ts';")).to.have.length(1);
    expect(rules('device/camera/a.ts', "const { Pipeline } = await import('../pipeline/pipeline.ts');")).to.have.length(1);
    expect(rules('device/inference/a.ts', "export { loadConfig } from '../config/load-config.ts';")).to.have.length(1);
    expect(rules('device/logger.ts', "import { backoffDelay } from './supervision/backoff.ts';")).to.have.length(1);
  });

  it('flags imports between directories on one row', () => {
    expect(rules('device/config/a.ts', "import type { PipelineResult } from '../results/pipeline-result.ts';"))
      .to.deep.equal([`layers: config must not import results (beside it); imports run downwards only: ${ORDER}`]);
  });

  it('lets imports run downwards and within a directory', () => {
    expect(rules('device/cli/serve.ts', "import { startServer } from '../server/start-server.ts';")).to.deep.equal([]);
    expect(rules('device/server/tls.ts', "import { ServerConfigError } from '../config/config-error.ts';")).to.deep.equal([]);
    expect(rules('device/config/config.ts', "import { parseCameraSpec } from '../camera/camera-spec.ts';")).to.deep.equal([]);
    expect(rules('device/camera/a.ts', "import type { Logger } from '../logger.ts';")).to.deep.equal([]);
    expect(rules('device/camera/a.ts', "import { SourceError } from './source-error.ts';")).to.deep.equal([]);
    expect(rules('device/inference/inference-worker-bootstrap.mjs', "import('./inference-worker.ts')")).to.deep.equal([]);
    expect(rules('device/store/a.ts', "import { readFile } from 'node:fs/promises';")).to.deep.equal([]);
    expect(rules('scripts/a.ts', "import { Pipeline } from '../device/pipeline/pipeline.ts';")).to.deep.equal([]);
  });

  it('asks for a place in the order before a new directory under device/ is used', () => {
    expect(rules('device/newroom/publisher.ts', "import { backoffDelay } from '../supervision/backoff.ts';")[0]).to.match(/device\/newroom\/ is not in the layer order/);
    expect(rules('device/pipeline/a.ts', "import { x } from '../newroom/publisher.ts';")[0]).to.match(/device\/newroom\/ is not in the layer order/);
    expect(rules('device/newroom/topics.ts', 'export const AVAILABILITY = "availability";')).to.deep.equal([]);
  });

  it('the repository keeps to the layers', () => {
    expect(lintRepository(resolve(PACKAGE_ROOT)).filter((f) => f.rule.startsWith('layers:'))).to.deep.equal([]);
  });
});
