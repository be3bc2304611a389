import { createRegistry, toJson, type JsonValue, type Message } from '@bufbuild/protobuf';
import { file_hive_v1_catalog } from '../../gen/hive/v1/catalog_pb.js';
import { file_hive_v1_registry } from '../../gen/hive/v1/registry_pb.js';

/** Every message of hive.v1 (and the well-known types it uses), to encode any response by its type name. */
const TYPES = createRegistry(file_hive_v1_registry, file_hive_v1_catalog);

/**
 * A hive.v1 message in the protobuf JSON form (lowerCamel field names, enums by name, 64-bit integers as strings,
 * default values left out): what grpcurl and buf curl print.
 */
export function toProtoJson(message: Message): JsonValue {
  const schema = TYPES.getMessage(message.$typeName);
  if (schema === undefined) throw new Error(`toProtoJson: ${message.$typeName} is not a hive.v1 message`);
  return toJson(schema, message, { registry: TYPES });
}
