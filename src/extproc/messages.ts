/**
 * Plain-object shapes of the ext_proc messages as @grpc/proto-loader decodes them with the options in
 * proto.ts (keepCase, enums as names, bytes as Buffer, oneofs as a virtual field naming the set case).
 * Only what vigil and envoy-sim read or write is typed; everything is optional on the wire.
 */

export type HeaderSendMode = 'DEFAULT' | 'SEND' | 'SKIP';
export type BodySendMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL' | 'FULL_DUPLEX_STREAMED' | 'GRPC';

export interface HeaderValue {
  key?: string;
  value?: string;
  raw_value?: Buffer | Uint8Array;
}

export interface HeaderMap {
  headers?: HeaderValue[];
}

export interface HeaderValueOption {
  header?: HeaderValue;
  append?: { value?: boolean } | null;
  append_action?: string | number;
  keep_empty_value?: boolean;
}

export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}

export interface HttpHeaders {
  headers?: HeaderMap;
  end_of_stream?: boolean;
}

export interface HttpBody {
  body?: Buffer | Uint8Array;
  end_of_stream?: boolean;
  end_of_stream_without_message?: boolean;
  grpc_message_compressed?: boolean;
}

export interface HttpTrailers {
  trailers?: HeaderMap;
}

export interface ProcessingMode {
  request_header_mode?: HeaderSendMode | number;
  response_header_mode?: HeaderSendMode | number;
  request_body_mode?: BodySendMode | number;
  response_body_mode?: BodySendMode | number;
  request_trailer_mode?: HeaderSendMode | number;
  response_trailer_mode?: HeaderSendMode | number;
}

export interface ProtocolConfiguration {
  request_body_mode?: BodySendMode | number;
  response_body_mode?: BodySendMode | number;
  send_body_without_waiting_for_header_response?: boolean;
}

/**
 * A protobuf Struct as proto-loader decodes it. protobufjs bundles its own google.protobuf.* types,
 * whose fields are camelCase even with keepCase (docs/protocol.md §1.1).
 */
export interface Struct {
  fields?: Record<string, StructValue>;
}
export interface StructValue {
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: Struct;
  listValue?: { values?: StructValue[] };
  kind?: string;
}

export type RequestCase =
  | 'request_headers'
  | 'response_headers'
  | 'request_body'
  | 'response_body'
  | 'request_trailers'
  | 'response_trailers';

export interface ProcessingRequest {
  request?: RequestCase;
  request_headers?: HttpHeaders;
  response_headers?: HttpHeaders;
  request_body?: HttpBody;
  response_body?: HttpBody;
  request_trailers?: HttpTrailers;
  response_trailers?: HttpTrailers;
  metadata_context?: { filter_metadata?: Record<string, Struct> };
  attributes?: Record<string, Struct>;
  observability_mode?: boolean;
  protocol_config?: ProtocolConfiguration;
}

export interface BodyMutation {
  mutation?: 'body' | 'clear_body' | 'streamed_response';
  body?: Buffer | Uint8Array;
  clear_body?: boolean;
  streamed_response?: { body?: Buffer | Uint8Array; end_of_stream?: boolean };
}

export interface CommonResponse {
  status?: 'CONTINUE' | 'CONTINUE_AND_REPLACE' | number;
  header_mutation?: HeaderMutation;
  body_mutation?: BodyMutation;
  clear_route_cache?: boolean;
}

export interface HeadersResponse {
  response?: CommonResponse;
}
export interface BodyResponse {
  response?: CommonResponse;
}
export interface TrailersResponse {
  header_mutation?: HeaderMutation;
}

export interface ImmediateResponse {
  status?: { code?: string | number };
  headers?: HeaderMutation;
  body?: Buffer | Uint8Array;
  grpc_status?: { status?: number };
  details?: string;
}

export type ResponseCase = RequestCase | 'immediate_response' | 'streamed_immediate_response';

export interface ProcessingResponse {
  response?: ResponseCase;
  request_headers?: HeadersResponse;
  response_headers?: HeadersResponse;
  request_body?: BodyResponse;
  response_body?: BodyResponse;
  request_trailers?: TrailersResponse;
  response_trailers?: TrailersResponse;
  immediate_response?: ImmediateResponse;
  streamed_immediate_response?: Record<string, unknown>;
  dynamic_metadata?: Struct;
  mode_override?: ProcessingMode;
  override_message_timeout?: { seconds?: string | number; nanos?: number };
  request_drain?: boolean;
}
