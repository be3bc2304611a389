import { ENGINE_KINDS, type EngineAdapter, type EngineHttp, type EngineKind, type EngineResponse } from './engine.js';
import { LLAMA_CPP_SPEC, SGLANG_SPEC, TGI_SPEC, VLLM_SPEC } from './engine-specs.js';
import { ollamaAdapter } from './ollama-adapter.js';
import { singleWorkerAdapter } from './single-worker-adapter.js';

const ADAPTERS: Readonly<Record<EngineKind, EngineAdapter>> = {
  vllm: singleWorkerAdapter(VLLM_SPEC),
  'llama.cpp': singleWorkerAdapter(LLAMA_CPP_SPEC),
  ollama: ollamaAdapter,
  sglang: singleWorkerAdapter(SGLANG_SPEC),
  tgi: singleWorkerAdapter(TGI_SPEC),
};

/** The adapter of one kind (stateless: share it among every engine of that kind). */
export function adapterFor(kind: EngineKind): EngineAdapter {
  return ADAPTERS[kind];
}

/**
 * Which kind the engine behind `http` is: each of `kinds` is probed in order and the first that recognises it
 * wins. Each answer is fetched once, however many probes read it (vLLM and llama.cpp both read `/v1/models`).
 * Resolves undefined when the engine answered every probe and none recognised it; rejects with the
 * EngineError('unreachable') of the first probe that got no answer (the engine is down or hung: nothing is known
 * yet, and every later probe would fail the same way).
 */
export async function detectEngine(http: EngineHttp, kinds: readonly EngineKind[] = ENGINE_KINDS): Promise<EngineKind | undefined> {
  const shared = sharedAnswers(http);
  for (const kind of kinds) {
    if (await adapterFor(kind).detect(shared)) return kind;
  }
  return undefined;
}

/** `http` with each path's answer (or failure) fetched once and shared. */
export function sharedAnswers(http: EngineHttp): EngineHttp {
  const answers = new Map<string, Promise<EngineResponse>>();
  return {
    baseUrl: http.baseUrl,
    get(path) {
      let answer = answers.get(path);
      if (answer === undefined) {
        answer = http.get(path);
        answers.set(path, answer);
        // A failure is read by whichever probe asks for it; it is not an unhandled rejection meanwhile.
        answer.catch(() => undefined);
      }
      return answer;
    },
  };
}
