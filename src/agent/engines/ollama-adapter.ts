import { attempt, definedOnly, getJson, getOptionalJson, integerAt, isRecord, Notes, textAt } from './engine-answers.js';
import { readHealth } from './engine-health.js';
import { EngineError, type EngineAdapter, type EngineHttp, type EngineReading, type EngineWorkerReading } from './engine.js';

/**
 * Ollama: one worker per loaded model (`/api/ps`), none while nothing is loaded; no Prometheus endpoint, so no
 * load figures; `size_vram` is the VRAM Ollama itself says each model holds.
 */
export const ollamaAdapter: EngineAdapter = {
  kind: 'ollama',

  /** `/api/version` answers `{"version": "..."}`. */
  async detect(http: EngineHttp): Promise<boolean> {
    const result = await attempt(http, '/api/version');
    if (!result.ok) {
      if (result.error.reason === 'unreachable') throw result.error;
      return false;
    }
    if (result.response.status !== 200) return false;
    try {
      const json = JSON.parse(result.response.body) as unknown;
      return isRecord(json) && typeof json['version'] === 'string';
    } catch {
      return false;
    }
  },

  async poll(http: EngineHttp): Promise<EngineReading> {
    const versionNotes = new Notes();
    const [health, ps, versionJson] = await Promise.all([
      readHealth(http, 'ollama'),
      getJson(http, '/api/ps'),
      getOptionalJson(http, '/api/version', versionNotes),
    ]);
    const notes = new Notes();
    const workers = loadedModels(ps, notes);
    notes.addAll(versionNotes);
    const version = textAt(versionJson, ['version'], 'GET /api/version', notes);
    return definedOnly({ kind: 'ollama' as const, version, health, workers, note: notes.text() });
  },
};

/** `/api/ps`'s models, one worker each, keyed by name (a name listed twice counts once). */
function loadedModels(ps: unknown, notes: Notes): EngineWorkerReading[] {
  const models = isRecord(ps) ? ps['models'] : undefined;
  // Some versions answer `{"models": null}` when nothing is loaded.
  if (isRecord(ps) && models === null) return [];
  if (!Array.isArray(models)) throw new EngineError('bad-answer', 'GET /api/ps: no models list');
  const workers = new Map<string, EngineWorkerReading>();
  models.forEach((model: unknown, i) => {
    const name = isRecord(model) ? model['name'] : undefined;
    if (typeof name !== 'string' || name === '') throw new EngineError('bad-answer', `GET /api/ps: models[${i}] has no name`);
    if (workers.has(name)) return;
    const where = `GET /api/ps: ${name}`;
    workers.set(
      name,
      definedOnly({
        key: name,
        modelId: name,
        vramBytes: integerAt(model, ['size_vram'], 0, where, notes),
        contextLength: integerAt(model, ['context_length'], 1, where, notes),
      }),
    );
  });
  return [...workers.values()];
}
