import type { OpenAiErrorBody } from './openai-shapes.js';

/**
 * Why a simulated worker refuses a request: the one error type of simulated inference, answered in OpenAI's form
 * `{"error": {"message", "type", "param", "code"}}` with `status`. Messages name the field and the limit, e.g.
 * `max_tokens: must be an integer from 1 to 131072, got 0`.
 *
 * Codes: `invalid_json`, `invalid_value` and `missing_required_parameter` (400), `model_not_found`,
 * `worker_not_found` and `unknown_url` (404), `method_not_allowed` (405), `request_too_large` (413).
 */
export class InferenceProblem extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413,
    readonly code: string,
    message: string,
    /** The request field at fault, when there is one (OpenAI's `param`). */
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'InferenceProblem';
  }

  /** The JSON body sent for it. Every simulated refusal is the caller's doing, hence `invalid_request_error`. */
  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: 'invalid_request_error', param: this.param, code: this.code } };
  }
}

/** A field that is there but wrong: 400 `invalid_value`, the message starting with the field's name. */
export function invalidField(field: string, problem: string): InferenceProblem {
  return new InferenceProblem(400, 'invalid_value', `${field}: ${problem}`, field);
}

/** A required field that is absent (or null). */
export function missingField(field: string): InferenceProblem {
  return new InferenceProblem(400, 'missing_required_parameter', `${field}: required`, field);
}

/** How a JSON value is named in messages: `got number 3`, `got array`, `got null`. */
export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeof value;
}
