import { isMainThread } from 'node:worker_threads';

/**
 * The variable onnxruntime (1.30, Linux) reads, with getenv(), when the first OrtEnv of the process is
 * created: set to 1 it never starts its Microsoft 1DS telemetry client.
 */
export const ORT_TELEMETRY_OPT_OUT = 'ORT_DISABLE_TELEMETRY';

/**
 * Keeps onnxruntime's telemetry client from starting in this process. It must run before the first
 * inference session, on the main thread.
 *
 * Why: while starting, that client reads /proc/self/cmdline and parses it recursively, roughly 300
 * bytes of stack per byte of command line. A session is created on the inference worker thread,
 * whose stack Node fixes at 4 MB whatever the stack ulimit (or systemd's LimitSTACK) says, so a
 * command line over roughly 15 KB (`vegkiosk classify photos/*.jpg` with 300 names) overflowed it and
 * the process died with SIGSEGV before printing anything. Nothing here wants the client anyway: an
 * unattended kiosk must not upload usage data to a third party, persist a device id, or leave
 * /tmp/mat-debug-<pid>.log behind after every run.
 *
 * Set unconditionally, overriding any value inherited, because a value of 0 brings the crash back.
 * Only the main thread's process.env reaches the C environment that onnxruntime reads; a worker's
 * process.env is a private copy, which is why WorkerModel calls this before it starts its thread.
 */
export function disableOnnxRuntimeTelemetry(): void {
  if (!isMainThread) return;
  process.env[ORT_TELEMETRY_OPT_OUT] = '1';
}
