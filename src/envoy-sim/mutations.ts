/**
 * Applying a processor's header and body mutations the way Envoy's ext_proc `mutation_utils.cc` does
 * (docs/envoy-ext-proc.md §1.4, §1.5, §2.8).
 */
import type { BodyMutation, HeaderMutation } from '../extproc/messages.js';
import { headerNameIsValid, headerValueIsValid, type HeaderList, rawValue } from './headers.js';
import type { MutationChecker } from './mutation-rules.js';

/** HCM defaults: max_request_headers_count and max_request_headers_kb (§1.5 header-count overflow → 500). */
const MAX_HEADERS_COUNT = 100;
const MAX_HEADERS_KB = 60;

/**
 * Applies `mutation` to `headers` in place. Returns null on success, or the error message of a rejection that
 * must become a 500 local reply (§2.7 "other processing errors"). Dropped mutations call `rejected()`.
 * `replacing`: CONTINUE_AND_REPLACE, under which `:method` may change (§1.4).
 */
export function applyHeaderMutations(
  mutation: HeaderMutation,
  headers: HeaderList,
  replacing: boolean,
  checker: MutationChecker,
  rejected: () => void,
): string | null {
  const removes = mutation.remove_headers ?? [];
  const sets = mutation.set_headers ?? [];
  if (removes.length > MAX_HEADERS_COUNT || sets.length > MAX_HEADERS_COUNT) {
    rejected();
    return `Header mutation remove header count ${removes.length} or set header count ${sets.length} exceed the HCM header count limit ${MAX_HEADERS_COUNT}`;
  }
  for (const raw of removes) {
    if (!headerNameIsValid(raw)) {
      rejected();
      return 'Invalid character in remove_headers mutation.';
    }
    const name = raw.toLowerCase();
    const result = checker.check('remove', name, Buffer.alloc(0));
    if (result === 'ok') headers.remove(name);
    else {
      rejected();
      if (result === 'fail') return `Invalid attempt to remove ${name}`;
    }
  }
  for (const option of sets) {
    const header = option.header;
    if (!header) continue;
    const value = rawValue(header);
    // §0.4: both value and raw_value set → the request fails with a 500.
    if ((header.value ?? '') !== '' && value.length > 0) {
      rejected();
      return 'Only one of value or raw_value in the HeaderValue message should be set.';
    }
    // §0.4: only raw_value is read; a value-only mutation sets an empty value.
    const key = header.key ?? '';
    if (!headerNameIsValid(key) || !headerValueIsValid(value)) {
      rejected();
      return 'Invalid character in set_headers mutation.';
    }
    const name = key.toLowerCase();
    // §0.5: only the deprecated `append` BoolValue counts, default false (overwrite); append_action is ignored.
    const append = option.append?.value === true;
    const op = append && headers.has(name) ? 'append' : 'set';
    let result = checker.check(op, name, value);
    if (replacing && name === ':method') result = 'ok';
    if (result === 'ok') {
      const text = value.toString('utf8');
      if (append) headers.add(name, text);
      else headers.set(name, text);
    } else {
      rejected();
      if (result === 'fail') return `Invalid attempt to modify ${name}`;
    }
  }
  if (headers.size > MAX_HEADERS_COUNT || headers.byteSize() > MAX_HEADERS_KB * 1024) {
    rejected();
    return `Header mutation causes end result header count ${headers.size} or header size ${headers.byteSize()} bytes, exceeding the count limit ${MAX_HEADERS_COUNT} or the size limit ${MAX_HEADERS_KB} kilobytes`;
  }
  return null;
}

/** §1.4 body_mutation: `body` replaces, `clear_body` empties, `streamed_response` (FULL_DUPLEX) does nothing here. */
export function applyBodyMutation(mutation: BodyMutation | undefined, data: Buffer): Buffer {
  if (!mutation) return data;
  const kind = mutation.mutation ?? (mutation.body !== undefined ? 'body' : mutation.clear_body ? 'clear_body' : undefined);
  if (kind === 'clear_body') return mutation.clear_body === true ? Buffer.alloc(0) : data;
  if (kind === 'body') return Buffer.from(mutation.body ?? Buffer.alloc(0));
  return data;
}

/** The length Envoy compares with content-length for a BUFFERED body mutation: `body_mutation.body().size()`. */
export function mutatedBodyLength(mutation: BodyMutation): number {
  return mutation.mutation === 'body' || mutation.body !== undefined ? (mutation.body?.length ?? 0) : 0;
}

/** Envoy's StringUtil::replaceAllEmptySpace, applied to local-reply details. */
export function detailsOf(message: string): string {
  return message.replace(/\s/g, '_');
}
