import { fromBinary, toBinary, type DescMessage, type DescService, type Message } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

/**
 * Builds a grpc-js service definition from a protobuf-es service descriptor (protobuf-es generates messages and
 * descriptors, not grpc-js stubs). Methods are keyed by their lowerCamel local name, with the proto name kept as
 * `originalName`, so handlers can be written either way and generic clients get proto-named methods.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<Message, Message>> = {};
  for (const method of service.methods) {
    const kind = method.methodKind;
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
      responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.name,
    };
  }
  return definition;
}

/**
 * Encodes a message; bytes pass through as they are, so a stream can send one pre-encoded message to many callers
 * (Watch fans each event out to every watcher) without encoding it again per call.
 */
function serializer(schema: DescMessage): (message: Message) => Buffer {
  return (message) => {
    if (message instanceof Uint8Array) return Buffer.isBuffer(message) ? message : Buffer.from(message);
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(schema: DescMessage): (bytes: Buffer) => Message {
  return (bytes) => fromBinary(schema, bytes);
}
