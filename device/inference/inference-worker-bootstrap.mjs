// Worker threads do not inherit the main thread's tsx loader, and Node 20 resolves a worker's entry
// before `--import` hooks apply, so this plain-JS entry registers tsx and then loads the TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./inference-worker.ts');
