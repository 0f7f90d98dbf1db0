import type { PipelineResult } from './pipeline-result.ts';

/**
 * The `result` message as sent on the WebSocket and, with the fleet's own seq, on MQTT: one shape
 * for both, made in one place. The JPEG and any embedding stay out.
 */
export function resultMessage(r: PipelineResult) {
  return {
    type: 'result' as const, seq: r.seq, capturedAt: r.capturedAt, kind: r.kind, label: r.label, score: r.score,
    // Where a result says where its label came from (a class learned on the kiosk), so does the message.
    ...('source' in r && r.source ? { source: r.source } : {}), top: r.top, detections: r.detections, latencyMs: r.latencyMs,
    // Rest: the scene had not changed, so this is the last inferred result again.
    ...(r.reused ? { reused: true as const } : {}),
  };
}
