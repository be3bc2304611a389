import { valueAt } from './engine-answers.js';
import { EngineError, type EngineHealth, type EngineHttp, type EngineKind, type EngineResponse } from './engine.js';

/** Where each kind says how it is, and what its 503 means. */
export interface HealthRule {
  readonly path: string;
  /**
   * What a 503 means: `not-ready` for engines that answer 503 until they serve (SGLang, TGI); `failing`
   * otherwise. A 503 whose JSON `error.message` is `loadingMessage` reads `loading` (llama.cpp).
   */
  readonly on503: 'not-ready' | 'failing';
  readonly loadingMessage?: string;
}

export const HEALTH_RULES: Readonly<Record<EngineKind, HealthRule>> = {
  vllm: { path: '/health', on503: 'failing' },
  'llama.cpp': { path: '/health', on503: 'failing', loadingMessage: 'Loading model' },
  // Ollama has no health endpoint: its root answers "Ollama is running".
  ollama: { path: '/', on503: 'failing' },
  sglang: { path: '/health', on503: 'not-ready' },
  tgi: { path: '/health', on503: 'not-ready' },
};

/**
 * The engine's health from its health endpoint. Rejects only when the engine does not answer (EngineError
 * 'unreachable'); a body past the cap is an answer that is not 200, so `failing`.
 */
export async function readHealth(http: EngineHttp, kind: EngineKind): Promise<EngineHealth> {
  const rule = HEALTH_RULES[kind];
  let response: EngineResponse;
  try {
    response = await http.get(rule.path);
  } catch (error) {
    if (error instanceof EngineError && error.reason === 'too-large') {
      return { status: 'failing', message: error.message };
    }
    throw error;
  }
  return healthOf(rule, response);
}

/** The health an answer of `rule.path` means. */
export function healthOf(rule: HealthRule, response: EngineResponse): EngineHealth {
  if (response.status === 200) return { status: 'ok' };
  if (response.status === 503 && rule.loadingMessage !== undefined && isLoading(response, rule.loadingMessage)) {
    return { status: 'loading', message: rule.loadingMessage };
  }
  const message = `GET ${rule.path}: ${response.status}`;
  return { status: response.status === 503 ? rule.on503 : 'failing', message };
}

/** Whether a 503 answer is llama.cpp's `{"error":{"code":503,"message":"Loading model",...}}`. */
export function isLoading(response: EngineResponse, loadingMessage: string): boolean {
  if (response.status !== 503) return false;
  try {
    return valueAt(JSON.parse(response.body) as unknown, ['error', 'message']) === loadingMessage;
  } catch {
    return false;
  }
}
