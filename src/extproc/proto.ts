import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoDir } from '../paths.js';

/**
 * Loads the wire definitions vigil speaks from proto/ (never from a third-party tree), once.
 * Options: field names as in the .proto, enums as names, 64-bit ints as strings, bytes as Buffer,
 * a virtual field per oneof naming the case that is set.
 */
export const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [protoDir],
};

export const EXT_PROC_PROTO = 'envoy/service/ext_proc/v3/external_processor.proto';
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
export const PROCESS_METHOD = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
export const EXT_PROC_SERVICE_NAME = 'envoy.service.ext_proc.v3.ExternalProcessor';

export interface WireDefinitions {
  packageDefinition: protoLoader.PackageDefinition;
  /** envoy.service.ext_proc.v3.ExternalProcessor */
  processorService: grpc.ServiceDefinition;
  ProcessorClient: grpc.ServiceClientConstructor;
  /** grpc.health.v1.Health */
  healthService: grpc.ServiceDefinition;
  HealthClient: grpc.ServiceClientConstructor;
}

let cached: WireDefinitions | undefined;

export function loadWire(): WireDefinitions {
  if (cached) return cached;
  const packageDefinition = protoLoader.loadSync([EXT_PROC_PROTO, HEALTH_PROTO], loaderOptions);
  const root = grpc.loadPackageDefinition(packageDefinition) as any;
  const ProcessorClient = root.envoy.service.ext_proc.v3.ExternalProcessor as grpc.ServiceClientConstructor;
  const HealthClient = root.grpc.health.v1.Health as grpc.ServiceClientConstructor;
  cached = {
    packageDefinition,
    processorService: ProcessorClient.service,
    ProcessorClient,
    healthService: HealthClient.service,
    HealthClient,
  };
  return cached;
}
