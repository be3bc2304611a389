import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';

/**
 * Serves gRPC server reflection (v1 and v1alpha) for `services`, from protobuf-es's embedded descriptors: each
 * service's file and its transitive imports, as serialized FileDescriptorProtos with fully-qualified type names.
 * Go clients (grpcurl, buf curl) validate these strictly; descriptors that went through proto-loader would fail.
 */
export function addReflection(server: Server, services: readonly DescService[]): void {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(visit);
  };
  services.forEach((service) => visit(service.file));
  const fileDescriptorProtos = [...files.values()].map((file) => toBinary(FileDescriptorProtoSchema, file.proto));
  // @grpc/reflection is typed to take a proto-loader PackageDefinition but reads only each entry's
  // `fileDescriptorProtos` (an array of serialized FileDescriptorProto): give it exactly that.
  const definition = Object.fromEntries(
    services.map((service) => [service.typeName, { fileDescriptorProtos }]),
  ) as unknown as ConstructorParameters<typeof ReflectionService>[0];
  new ReflectionService(definition).addToServer(server);
}
