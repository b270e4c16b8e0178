/**
 * The sharded fan-out plan of one iteration or stage: a bounded tree of shard workflows over the
 * slot range [0, n), so that no workflow of a paper-scale run (≈ 3,000 episodes per RL iteration,
 * ≈ 70,000 in the RFT stage) has more than `leafEpisodes` episode children or `branching` shard
 * children, and no history grows past `maxHistoryEvents` (Temporal: 2,000 pending children per
 * workflow, a history is terminated at 51,200 events and warned about far earlier).
 *
 * A node of height 0 is a leaf: it runs its slots as episode children. A node of height h ≥ 1
 * splits its range into as few children of height h − 1 as fit (each ≤ leafEpisodes·branching^(h−1)
 * slots), as even as possible. The tree's height is the smallest that holds n, so it grows with
 * log(n). Pure and deterministic: workflows recompute a node's children from (range, height, limits).
 */

export interface FanoutLimits {
  /** Most episode children of one leaf shard (Temporal allows 2,000 pending children). */
  leafEpisodes: number;
  /** Most child shards of one inner shard. */
  branching: number;
  /** The bound every workflow's estimated history must stay within. */
  maxHistoryEvents: number;
}

export const TEMPORAL_MAX_PENDING_CHILDREN = 2_000;

export const DEFAULT_FANOUT_LIMITS: FanoutLimits = { leafEpisodes: 500, branching: 100, maxHistoryEvents: 10_000 };

export interface ShardRange {
  /** First slot (inclusive) and end slot (exclusive). */
  from: number;
  to: number;
  height: number;
}

export interface ShardNode extends ShardRange {
  children: ShardNode[];
}

/**
 * Upper bounds of the history events a workflow writes (Temporal's event model):
 * - its own start, first workflow task and completion: 5, plus slack for a few workflow-task
 *   timeouts under load;
 * - an activity: scheduled, started, completed, and the workflow task it wakes (3): 6;
 * - a child workflow: initiated, started, completed, and up to two workflow tasks (after the
 *   start and after the completion, 3 events each): 9.
 */
export const HISTORY_EVENTS = { workflowBase: 5, slack: 30, perActivity: 6, perChild: 9 } as const;

/** Activities a shard runs besides its children: a leaf loads its slots and records their outcomes. */
export const SHARD_ACTIVITIES = { leaf: 2, inner: 0 } as const;

export function validateLimits(limits: FanoutLimits): void {
  for (const [name, v] of Object.entries(limits)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`fan-out limit ${name} must be a positive integer, got ${v}`);
  }
  if (limits.branching < 2) throw new RangeError(`fan-out branching must be at least 2, got ${limits.branching}`);
  if (limits.leafEpisodes > TEMPORAL_MAX_PENDING_CHILDREN || limits.branching > TEMPORAL_MAX_PENDING_CHILDREN) {
    throw new RangeError(`fan-out limits ${limits.leafEpisodes}/${limits.branching} exceed Temporal's ${TEMPORAL_MAX_PENDING_CHILDREN} pending children`);
  }
}

/** Slots one node of this height holds at most. */
export function capacity(height: number, limits: FanoutLimits): number {
  return limits.leafEpisodes * limits.branching ** height;
}

/** The height of the root over n slots: the smallest whose capacity holds n. */
export function rootHeight(n: number, limits: FanoutLimits): number {
  validateLimits(limits);
  let h = 0;
  while (capacity(h, limits) < n) h += 1;
  return h;
}

/** The children of an inner node: ceil(size / capacity(h − 1)) ranges, sizes differing by at most 1. */
export function childRanges(node: ShardRange, limits: FanoutLimits): ShardRange[] {
  if (node.height === 0) return [];
  const size = node.to - node.from;
  const k = Math.max(1, Math.ceil(size / capacity(node.height - 1, limits)));
  const base = Math.floor(size / k);
  const extra = size % k;
  const out: ShardRange[] = [];
  let from = node.from;
  for (let i = 0; i < k; i++) {
    const to = from + base + (i < extra ? 1 : 0);
    out.push({ from, to, height: node.height - 1 });
    from = to;
  }
  return out;
}

export function planFanout(n: number, limits: FanoutLimits = DEFAULT_FANOUT_LIMITS): ShardNode {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`episode count must be a non-negative integer, got ${n}`);
  const build = (r: ShardRange): ShardNode => ({ ...r, children: childRanges(r, limits).map(build) });
  return build({ from: 0, to: n, height: rootHeight(n, limits) });
}

/** Estimated history events of one shard workflow (an upper bound in normal operation). */
export function shardHistoryEvents(node: ShardRange, limits: FanoutLimits): number {
  const children = node.height === 0 ? node.to - node.from : childRanges(node, limits).length;
  const activities = node.height === 0 ? SHARD_ACTIVITIES.leaf : SHARD_ACTIVITIES.inner;
  return HISTORY_EVENTS.workflowBase + HISTORY_EVENTS.slack + activities * HISTORY_EVENTS.perActivity + children * HISTORY_EVENTS.perChild;
}

/** Steps of one update segment workflow: each step is three activities (load, train, register). */
export const DEFAULT_UPDATE_SEGMENT_STEPS = 200;

export function updateSegmentHistoryEvents(steps: number): number {
  // + load_policy is in the parent; each step: loadUpdateStep, the trainer step, registerStepCheckpoint.
  return HISTORY_EVENTS.workflowBase + HISTORY_EVENTS.slack + steps * 3 * HISTORY_EVENTS.perActivity;
}

export interface FanoutSummary {
  height: number;
  shards: number;
  leaves: number;
  /** Largest estimated history of any shard. */
  maxShardEvents: number;
  /** Most children (episodes or shards) of any shard. */
  maxChildren: number;
}

export function summarize(root: ShardNode, limits: FanoutLimits): FanoutSummary {
  let shards = 0;
  let leaves = 0;
  let maxShardEvents = 0;
  let maxChildren = 0;
  const walk = (node: ShardNode) => {
    shards += 1;
    if (node.height === 0) leaves += 1;
    maxShardEvents = Math.max(maxShardEvents, shardHistoryEvents(node, limits));
    maxChildren = Math.max(maxChildren, node.height === 0 ? node.to - node.from : node.children.length);
    node.children.forEach(walk);
  };
  walk(root);
  return { height: root.height, shards, leaves, maxShardEvents, maxChildren };
}

/** Update-step segments of an iteration: [from, to) ranges of at most `perSegment` steps. */
export function segmentRanges(steps: number, perSegment: number = DEFAULT_UPDATE_SEGMENT_STEPS): Array<{ from: number; to: number }> {
  const out: Array<{ from: number; to: number }> = [];
  for (let from = 0; from < steps; from += perSegment) out.push({ from, to: Math.min(steps, from + perSegment) });
  return out;
}

/** Activities of an iteration workflow on the sharded path, at most (the RL iteration has the most). */
export const ITERATION_ACTIVITIES = 10;

/** Estimated history events of an iteration or stage workflow: its activities, the root shard and the update segments. */
export function iterationHistoryEvents(updateSegments: number): number {
  return HISTORY_EVENTS.workflowBase + HISTORY_EVENTS.slack + ITERATION_ACTIVITIES * HISTORY_EVENTS.perActivity + (1 + updateSegments) * HISTORY_EVENTS.perChild;
}

/** Draws of one task in one iteration get disjoint sample indices, so their episode ids differ. */
export function groupSlots(problems: string[], groupSize: number): Array<{ taskId: string; slots: Array<{ taskId: string; sampleIdx: number }> }> {
  const seen = new Map<string, number>();
  return problems.map((taskId) => {
    const occurrence = seen.get(taskId) ?? 0;
    seen.set(taskId, occurrence + 1);
    return { taskId, slots: Array.from({ length: groupSize }, (_, g) => ({ taskId, sampleIdx: occurrence * groupSize + g })) };
  });
}
