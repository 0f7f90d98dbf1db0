#!/usr/bin/env node
// The service is TypeScript run through tsx, so a fresh `npm ci` needs no build step on the kiosk.
import { register } from 'tsx/esm/api';

register();
await import('../device/cli/main.ts');
