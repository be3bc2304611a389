// Errors as OpenAI-compatible clients expect them: `{"error": {"message", "type", "code"}}` with the HTTP status
// those clients map to their exception classes (400 BadRequest, 401, 403, 404 NotFound, 413, 503, ...).

/** The `type` values OpenAI uses, and ours for the gateway's own conditions. */
export type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'server_error' | 'service_unavailable';

export interface OpenAiError {
  readonly status: number;
  readonly body: { readonly error: { readonly message: string; readonly type: OpenAiErrorType; readonly code: string | null; readonly param?: string | null } };
  /** Extra response headers (Retry-After). */
  readonly headers?: Readonly<Record<string, string>>;
}

export function openAiError(
  status: number,
  type: OpenAiErrorType,
  code: string | null,
  message: string,
  extra: { param?: string; headers?: Record<string, string> } = {},
): OpenAiError {
  return {
    status,
    body: { error: { message, type, code, ...(extra.param === undefined ? {} : { param: extra.param }) } },
    ...(extra.headers === undefined ? {} : { headers: extra.headers }),
  };
}
