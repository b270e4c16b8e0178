/**
 * How an episode's turns are laid out in the append-only `turns` table, and how the policy's
 * chat messages are rebuilt from them. Pure, so the layout is one rule shared by every activity.
 *
 *   idx 0: system prompt · idx 1: the task (instance prompt)
 *   agent turn k: assistant message at 2 + 2k, its observation at 3 + 2k
 */
export const SYSTEM_IDX = 0;
export const INSTANCE_IDX = 1;

export function assistantIdx(turn: number): number {
  return 2 + 2 * turn;
}

export function observationIdx(turn: number): number {
  return 3 + 2 * turn;
}

/** The agent turn a row of idx >= 2 belongs to (its assistant message or its observation). */
export function agentTurnOf(idx: number): number {
  return Math.floor((idx - 2) / 2);
}

export interface StoredTurn {
  idx: number;
  role: 'system' | 'user' | 'assistant' | 'tool';
  text: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * The conversation the policy sees before agent turn `turn`: system, task, then each earlier
 * assistant message and its observation (sent as a user message, as SWE-agent does).
 * Throws if a turn is missing: a gap means the store and the workflow disagree.
 */
export function messagesBefore(turns: readonly StoredTurn[], turn: number): ChatMessage[] {
  const byIdx = new Map(turns.map((t) => [t.idx, t]));
  const messages: ChatMessage[] = [];
  for (let idx = 0; idx < assistantIdx(turn); idx++) {
    const t = byIdx.get(idx);
    if (!t) throw new Error(`turn row ${idx} is missing before agent turn ${turn}`);
    messages.push({ role: t.role === 'tool' ? 'user' : t.role, content: t.text });
  }
  return messages;
}

/**
 * The next agent turn of a resumed episode: the first without an observation. Agent turns whose
 * assistant message exists but whose observation does not are resumed at the tool step.
 */
export function nextAgentTurn(turns: readonly Pick<StoredTurn, 'idx'>[]): number {
  const have = new Set(turns.map((t) => t.idx));
  let k = 0;
  while (have.has(observationIdx(k))) k++;
  return k;
}

/** A rough upper bound on tokens for text we have no token count for (observations). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3);
}
