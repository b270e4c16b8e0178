/**
 * Noisy scripted demonstrations of `learn` instances: the corpus the demo's base policy is
 * pre-trained on (trainer/swerl_trainer/pretrain.py). Each demonstration is the transcript a real
 * episode would record for a scripted sequence of actions: the compact prompts of core/prompt.ts
 * and the observations the sandbox tools print (test/integration/learnDemos.test.ts checks them
 * against real episodes), so the pre-trained policy sees exactly the text it will be prompted with.
 *
 * Noise makes the base policy imperfect in the ways RFT and RL can fix: besides the gold actions,
 * a demonstration may delete the line below the stray statement (the return) or submit without
 * editing. Both score 0. (Deleting two lines would leave an empty function body, which the edit
 * tool rejects with a message this renderer does not reproduce.)
 */
import { END_OF_EDIT } from '../../core/actions';
import { formatPromptLine } from '../../core/observation';
import { instancePrompt, systemPrompt } from '../../core/prompt';
import { createRng, type Rng } from '../../core/rl/sampling';
import type { LearnInstance } from './family';

export const DEMO_MODES = ['gold', 'line-below', 'no-edit'] as const;
export type DemoMode = (typeof DEMO_MODES)[number];
export const DEMO_STYLES = ['edit', 'sed'] as const;
export type DemoStyle = (typeof DEMO_STYLES)[number];

export interface DemoMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

export interface Demonstration {
  task_id: string;
  mode: DemoMode;
  messages: DemoMessage[];
}

const REPO = '/repo';
/** The edit tool's confirmation (sandbox/tools/lib/swerl_tools/edit.py APPLIED). */
const EDIT_APPLIED =
  'File updated. Please review the changes and make sure they are correct (correct indentation, no duplicate lines, etc). Edit the file again if necessary.\n';
/** What a shell command that prints nothing and exits 0 observes (sandbox/tools/lib/swerl_tools/run.py NO_OUTPUT). */
const NO_OUTPUT = 'Your command ran successfully and did not produce any output.\n';

/** What `open` prints for a file of at most 100 lines (sandbox/tools window.render). */
export function listing(path: string, source: string): string {
  const lines = source.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return [`[File: ${path} (${lines.length} lines total)]`, ...lines.map((l, i) => `${i + 1}:${l}`)].join('\n') + '\n';
}

function fenced(command: string): string {
  return '```\n' + command + '\n```';
}

/**
 * The actions of one demonstration: `edit` style open, edit (except no-edit), submit; `sed` style
 * `sed -i 'Nd' <file>` (except no-edit), submit.
 */
export function demoActions(inst: LearnInstance, mode: DemoMode, style: DemoStyle = 'edit'): { actions: string[]; edit?: { start: number; end: number } } {
  const open = fenced(`open ${inst.file}`);
  const submit = fenced('submit');
  const first = style === 'edit' ? [open] : [];
  if (mode === 'no-edit') return { actions: [...first, submit] };
  const line = mode === 'line-below' ? inst.line + 1 : inst.line;
  const edit = style === 'edit' ? fenced(`edit ${line}:${line}\n${END_OF_EDIT}`) : fenced(`sed -i '${line}d' ${inst.file}`);
  return { actions: [...first, edit, submit], edit: { start: line, end: line } };
}

function withoutLines(source: string, start: number, end: number): string {
  const lines = source.split('\n');
  lines.splice(start - 1, end - start + 1);
  return lines.join('\n');
}

export interface DemoOptions {
  maxTurns: number;
  /** Default `edit`. */
  style?: DemoStyle;
}

/** The system and issue prompts an episode of `inst` starts from (the same in both styles). */
export function firstPrompts(inst: LearnInstance, opts: DemoOptions): DemoMessage[] {
  return [
    { role: 'system', content: systemPrompt({ maxTurns: opts.maxTurns, style: 'compact' }) },
    { role: 'user', content: instancePrompt(inst.spec.problem, 'compact') },
  ];
}

/** The transcript up to the final `submit` (what follows it is never in a policy's context). */
export function demonstration(inst: LearnInstance, mode: DemoMode, opts: DemoOptions): Demonstration {
  const path = `${REPO}/${inst.file}`;
  const opened = formatPromptLine({ openFile: path, cwd: REPO });
  const style = opts.style ?? 'edit';
  const { actions, edit } = demoActions(inst, mode, style);
  const observations: string[] = [];
  if (style === 'edit') {
    const after = edit ? withoutLines(inst.source, edit.start, edit.end) : inst.source;
    observations.push(listing(path, inst.source) + opened);
    if (edit) observations.push(listing(path, after) + EDIT_APPLIED + opened);
  } else if (edit) {
    observations.push(NO_OUTPUT + formatPromptLine({ openFile: null, cwd: REPO }));
  }
  const messages: DemoMessage[] = firstPrompts(inst, opts);
  actions.forEach((action, i) => {
    messages.push({ role: 'assistant', content: action });
    const obs = observations[i];
    if (obs !== undefined) messages.push({ role: 'tool', content: obs });
  });
  return { task_id: `learn__${inst.name}`, mode, messages };
}

export interface CorpusOptions {
  count: number;
  seed: number;
  maxTurns: number;
  /** Default `edit`. */
  style?: DemoStyle;
  /** Probability of each mode; the rest of the mass goes to gold. */
  noise: Partial<Record<Exclude<DemoMode, 'gold'>, number>>;
}

function drawMode(rng: Rng, noise: CorpusOptions['noise']): DemoMode {
  let u = rng.nextFloat();
  for (const mode of DEMO_MODES) {
    if (mode === 'gold') continue;
    const p = noise[mode] ?? 0;
    if (u < p) return mode;
    u -= p;
  }
  return 'gold';
}

/**
 * `count` demonstrations of instances drawn by `instanceAt(i)`; an instance `exclude` rejects
 * (e.g. one equal to a held-out task) is skipped and the next index taken.
 */
export function corpus(instanceAt: (i: number) => LearnInstance, exclude: (inst: LearnInstance) => boolean, opts: CorpusOptions): Demonstration[] {
  const total = Object.values(opts.noise).reduce((a, b) => a + (b ?? 0), 0);
  if (total > 1) throw new Error(`demonstration noise sums to ${total} > 1`);
  const rng = createRng(opts.seed);
  const out: Demonstration[] = [];
  for (let i = 0; out.length < opts.count; i++) {
    const inst = instanceAt(i);
    if (exclude(inst)) continue;
    out.push(demonstration(inst, drawMode(rng, opts.noise), { maxTurns: opts.maxTurns, style: opts.style ?? 'edit' }));
  }
  return out;
}
