// The routing scenario's requests: a fixed set of long system prompts, each request one of them followed by a few
// short user turns, all drawn from one seed, so every policy of a run (and every run) sends the same sequence.
import { seededRandom } from '../src/common/seeded-random.js';

/** What the workload is made of. */
export interface WorkloadSpec {
  /** Distinct system prompts. */
  readonly systemPrompts: number;
  /** Each system prompt's length in bytes is drawn uniformly from this range (ASCII text: bytes = characters). */
  readonly minPromptBytes: number;
  readonly maxPromptBytes: number;
  /** Each request carries 1 to this many user turns, distinct questions drawn from a fixed list of 12. */
  readonly maxUserTurns: number;
  readonly seed: number;
}

export interface ChatMessage {
  readonly role: 'system' | 'user';
  readonly content: string;
}

const WORDS = (
  'hive queen worker model prompt token cache prefix route gateway slot request answer stream latency budget ' +
  'policy tenant region shard replica version release window retry backoff lease heartbeat snapshot metric ' +
  'label catalog fleet machine device memory tensor batch decode prefill context schedule reserve resume ' +
  'always never politely briefly carefully exactly plainly kindly only first then finally before after when'
).split(' ');

const ROLES = [
  'a support agent for a cloud storage product',
  'a tutor for first-year physics',
  'a reviewer of TypeScript pull requests',
  'a travel planner for rail journeys',
  'a recipe assistant for a small bakery',
  'an on-call helper for a GPU cluster',
  'a legal glossary for tenancy contracts',
  'a coach for long-distance runners',
];

const QUESTIONS = [
  'What should I try first?',
  'Can you say that more briefly?',
  'Which part matters most here?',
  'Give me one example.',
  'What could go wrong?',
  'How long will this take?',
  'Is there a cheaper way?',
  'What did I miss?',
  'Summarize the rules for me.',
  'Where do I start tomorrow?',
  'Why is that the default?',
  'What would you check next?',
];

/** A hex tag of 8 digits, so prompts differ from their first bytes on. */
function hexTag(rng: () => number): string {
  return Math.floor(rng() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');
}

function sentence(rng: () => number): string {
  const length = 8 + Math.floor(rng() * 9);
  const words = Array.from({ length }, () => WORDS[Math.floor(rng() * WORDS.length)] ?? 'hive');
  const first = words[0] ?? '';
  words[0] = first.charAt(0).toUpperCase() + first.slice(1);
  return `${words.join(' ')}.`;
}

/**
 * The system prompts: each opens with a line of its own (a distinct hex tag, its number, a role), so the first 256
 * bytes of every prompt text differ, then seeded sentences up to its drawn length.
 */
function systemPrompts(spec: WorkloadSpec, rng: () => number): string[] {
  const tags = new Set<string>();
  const prompts: string[] = [];
  for (let i = 0; i < spec.systemPrompts; i++) {
    let tag = hexTag(rng);
    while (tags.has(tag)) tag = hexTag(rng);
    tags.add(tag);
    const bytes = spec.minPromptBytes + Math.floor(rng() * (spec.maxPromptBytes - spec.minPromptBytes + 1));
    const role = ROLES[Math.floor(rng() * ROLES.length)] ?? '';
    let text = `[${tag}] System prompt ${i + 1} of ${spec.systemPrompts}: you are ${role}.\n`;
    while (text.length < bytes) text += `${sentence(rng)}${rng() < 0.2 ? '\n' : ' '}`;
    prompts.push(text.slice(0, bytes));
  }
  return prompts;
}

/** The sequence of requests: call `next` once per request, in the order they are sent. */
export class RoutingWorkload {
  readonly prompts: readonly string[];
  private readonly rng: () => number;

  constructor(readonly spec: WorkloadSpec) {
    if (spec.minPromptBytes < 256 || spec.maxPromptBytes < spec.minPromptBytes) {
      throw new Error(`prompt bytes: need 256 <= min <= max, got ${spec.minPromptBytes}..${spec.maxPromptBytes}`);
    }
    this.rng = seededRandom(spec.seed);
    this.prompts = systemPrompts(spec, this.rng);
  }

  /** The next request's messages: a system prompt drawn uniformly, then 1 to maxUserTurns distinct user questions. */
  next(): ChatMessage[] {
    const system = this.prompts[Math.floor(this.rng() * this.prompts.length)] ?? '';
    const turns = 1 + Math.floor(this.rng() * Math.min(this.spec.maxUserTurns, QUESTIONS.length));
    const left = [...QUESTIONS];
    const messages: ChatMessage[] = [{ role: 'system', content: system }];
    for (let i = 0; i < turns; i++) {
      const [question = ''] = left.splice(Math.floor(this.rng() * left.length), 1);
      messages.push({ role: 'user', content: question });
    }
    return messages;
  }
}
