/**
 * The CEL attributes a filter can send (docs/envoy-ext-proc.md §1.2 `attributes`), for the names the sim
 * knows. Values (protobufjs' camelCase google.protobuf.Value) follow Envoy's ExpressionManager::evaluateAttributes: bool → bool, integers → number,
 * anything else printed as a string. A name that does not evaluate is left out, as in Envoy.
 */
import type { Struct, StructValue } from '../extproc/messages.js';
import type { HeaderList } from './headers.js';

/** The key the attributes are sent under: the filter's name. */
export const ATTRIBUTES_KEY = 'envoy.filters.http.ext_proc';

export interface AttributeSource {
  requestHeaders: HeaderList | null;
  responseHeaders: HeaderList | null;
  sourceAddress: string | undefined;
}

type Value = string | number | boolean | undefined;

function splitAddress(address: string | undefined): { ip?: string; port?: number } {
  if (!address) return {};
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  return m ? { ip: m[1] ?? '', port: Number(m[2]) } : { ip: address };
}

function evaluate(name: string, src: AttributeSource): Value {
  const req = src.requestHeaders;
  const path = req?.first(':path');
  switch (name) {
    case 'request.path':
      return path;
    case 'request.url_path':
      return path?.split('?')[0];
    case 'request.query':
      return path === undefined ? undefined : path.includes('?') ? path.slice(path.indexOf('?') + 1) : '';
    case 'request.host':
      return req?.first(':authority');
    case 'request.scheme':
      return req?.first(':scheme');
    case 'request.method':
      return req?.first(':method');
    case 'request.referer':
      return req?.first('referer');
    case 'request.useragent':
      return req?.first('user-agent');
    case 'request.id':
      return req?.first('x-request-id');
    case 'request.protocol':
      return 'HTTP/1.1';
    case 'source.address':
      return src.sourceAddress;
    case 'source.port':
      return splitAddress(src.sourceAddress).port;
    case 'response.code': {
      const status = src.responseHeaders?.first(':status');
      return status === undefined ? undefined : Number(status);
    }
    case 'connection.mtls':
      return false;
    default:
      return undefined;
  }
}

function toValue(v: Exclude<Value, undefined>): StructValue {
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return { numberValue: v };
  return { stringValue: v };
}

export function evaluateAttributes(names: string[], src: AttributeSource): Struct {
  const fields: Record<string, StructValue> = {};
  for (const name of names) {
    const v = evaluate(name, src);
    if (v !== undefined) fields[name] = toValue(v);
  }
  return { fields };
}
