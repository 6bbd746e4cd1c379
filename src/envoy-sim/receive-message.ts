/**
 * Handling one ProcessingResponse, after Envoy's `Filter::onReceiveMessage` (docs/envoy-ext-proc.md §1.3,
 * §2.7, §8.4): timeout overrides, mode_override, dispatch to the pending direction, spurious replies per
 * Envoy version, and 1.37's early stream close.
 */
import type { ProcessingMode, ProcessingResponse } from '../extproc/messages.js';
import { type Mode, normaliseMode } from './config.js';
import type { ExtProcFilter } from './ext-proc-filter.js';
import type { HandleStatus, ProcessorState } from './processor-state.js';

const OK: HandleStatus = { ok: true };

function durationMs(d: { seconds?: string | number; nanos?: number }): number | null {
  const seconds = Number(d.seconds ?? 0);
  const nanos = d.nanos ?? 0;
  if (!Number.isFinite(seconds) || Math.abs(seconds) > 315_576_000_000) return null;
  return Math.trunc(seconds * 1000 + nanos / 1e6);
}

/** §1.3 override_message_timeout: ≥1 ms and ≤ max_message_timeout, once per state; all other fields ignored. */
function onNewTimeout(f: ExtProcFilter, d: { seconds?: string | number; nanos?: number }): void {
  const ms = durationMs(d);
  if (ms === null || ms < 1 || ms > f.config.maxMessageTimeoutMs) {
    f.count('override_message_timeout_ignored');
    return;
  }
  const decoder = f.decoding.restartMessageTimer(ms);
  const encoder = f.encoding.restartMessageTimer(ms);
  f.count(decoder || encoder ? 'override_message_timeout_received' : 'override_message_timeout_ignored');
}

/** DEFAULT header/trailer modes in an override mean "no change" (1.34+); body modes are always explicit. */
function effectiveModeOverride(target: Mode, existing: Mode): Mode {
  const keep = <K extends keyof Mode>(key: K): Mode[K] => (target[key] !== 'DEFAULT' ? target[key] : existing[key]);
  return {
    request_header_mode: keep('request_header_mode'),
    response_header_mode: keep('response_header_mode'),
    request_trailer_mode: keep('request_trailer_mode'),
    response_trailer_mode: keep('response_trailer_mode'),
    request_body_mode: target.request_body_mode,
    response_body_mode: target.response_body_mode,
  };
}

/**
 * §1.3 mode_override: honoured only with allow_mode_override, while a direction awaits a headers reply,
 * and (if set) only when it is in allowed_override_modes (request_header_mode not compared).
 * Returns false when the sim cannot follow the override.
 */
function applyModeOverride(f: ExtProcFilter, raw: ProcessingMode): boolean {
  const problems: string[] = [];
  const target = normaliseMode(raw, 'mode_override', problems);
  const mode = effectiveModeOverride(target, f.config.mode);
  const unsupported = [mode.request_body_mode, mode.response_body_mode].find((m) => m === 'FULL_DUPLEX_STREAMED' || m === 'GRPC');
  if (problems.length > 0 || unsupported) {
    f.hooks.unsupported(`envoy-sim: mode_override ${JSON.stringify(raw)} is not supported`);
    return false;
  }
  const allowed =
    f.config.allowedOverrideModes.length === 0 ||
    f.config.allowedOverrideModes.some(
      (o) =>
        mode.request_body_mode === o.request_body_mode &&
        mode.request_trailer_mode === o.request_trailer_mode &&
        mode.response_header_mode === o.response_header_mode &&
        mode.response_body_mode === o.response_body_mode &&
        mode.response_trailer_mode === o.response_trailer_mode,
    );
  if (allowed) {
    f.decoding.setProcessingMode(mode);
    f.encoding.setProcessingMode(mode);
  }
  return true;
}

function isLastBodyResponse(state: ProcessorState): boolean {
  return state.bodyMode === 'STREAMED' && (state.chunkQueue.front()?.endStream ?? false);
}

/** §6.3 (1.37): close the stream as soon as the last needed reply is in. */
function closeIfLastResponse(f: ExtProcFilter, kind: ProcessingResponse['response'], lastBody: boolean): void {
  if (!f.hasStream) return;
  const d = f.decoding;
  const e = f.encoding;
  let last = false;
  switch (kind) {
    case 'request_headers':
      last = (d.noBody || (d.bodyMode === 'NONE' && !d.sendTrailers)) && e.noExternalProcess();
      break;
    case 'request_body':
      last = lastBody && e.noExternalProcess();
      break;
    case 'request_trailers':
      last = e.noExternalProcess();
      break;
    case 'response_headers':
      last = e.noBody || (e.bodyMode === 'NONE' && !e.sendTrailers);
      break;
    case 'response_body':
      last = lastBody;
      break;
    case 'response_trailers':
      last = true;
      break;
    default:
      break;
  }
  if (last) f.closeStreamMaybeGraceful();
}

export function receiveMessage(f: ExtProcFilter, response: ProcessingResponse): void {
  // §2.9: replies are ignored in observability mode; §2.7: and after processing is complete.
  if (f.config.observability || f.processingComplete) return;
  if (response.override_message_timeout) return onNewTimeout(f, response.override_message_timeout);
  const inHeaders = f.decoding.callbackState === 'HeadersCallback' || f.encoding.callbackState === 'HeadersCallback';
  if (f.config.allowModeOverride && inHeaders && response.mode_override) {
    if (!applyModeOverride(f, response.mode_override)) return;
  }
  let status: HandleStatus;
  let lastBody = false;
  switch (response.response) {
    case 'request_headers':
      status = f.decoding.handleHeadersResponse(response.request_headers ?? {});
      break;
    case 'response_headers':
      status = f.encoding.handleHeadersResponse(response.response_headers ?? {});
      break;
    case 'request_body':
      lastBody = isLastBodyResponse(f.decoding);
      status = f.decoding.handleBodyResponse(response.request_body ?? {});
      break;
    case 'response_body':
      lastBody = isLastBodyResponse(f.encoding);
      status = f.encoding.handleBodyResponse(response.response_body ?? {});
      break;
    case 'request_trailers':
      status = f.decoding.handleTrailersResponse(response.request_trailers ?? {});
      break;
    case 'response_trailers':
      status = f.encoding.handleTrailersResponse(response.response_trailers ?? {});
      break;
    case 'immediate_response':
      if (f.config.disableImmediateResponse) {
        status = { ok: false, spurious: true, message: 'unhandled immediate response due to config disabled it' };
      } else {
        // §2.5: processing complete, timers off, side stream closed, then the local reply.
        f.processingComplete = true;
        f.onFinishProcessorCalls();
        f.closeStreamMaybeGraceful();
        if (f.config.version === '1.37') f.count('immediate_responses_sent');
        f.sendImmediateResponse(response.immediate_response ?? {});
        status = OK;
      }
      break;
    case 'streamed_immediate_response':
      if (f.config.version === '1.37') {
        return f.hooks.unsupported('envoy-sim: streamed_immediate_response (Envoy 1.37) is not supported');
      }
      status = { ok: false, spurious: true, message: 'unhandled message' };
      break;
    default:
      // §0.3: an empty ProcessingResponse is spurious.
      status = { ok: false, spurious: true, message: 'unhandled message' };
  }
  if (status.ok) {
    f.count('stream_msgs_received');
  } else if (status.spurious) {
    f.count('spurious_msgs_received');
    if (f.config.version === '1.34' || f.config.failureModeAllow) {
      // §2.7: ≤1.34 always, ≥1.35 with failure_mode_allow: drop the processor and continue unmodified.
      if (f.config.version !== '1.34') f.count('failure_mode_allowed');
      f.processingComplete = true;
      f.closeStream();
      f.clearAsyncState();
    } else {
      // §2.7 ≥1.35 fail-closed: a local reply 500 (status_on_error).
      f.handleErrorResponse(status.message);
    }
  } else {
    f.count('stream_msgs_received');
    f.handleErrorResponse(status.message);
  }
  if (f.config.version === '1.37') closeIfLastResponse(f, response.response, lastBody);
}
