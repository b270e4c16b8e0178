import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FANOUT_LIMITS,
  TEMPORAL_MAX_PENDING_CHILDREN,
  childRanges,
  iterationHistoryEvents,
  planFanout,
  rootHeight,
  segmentRanges,
  shardHistoryEvents,
  summarize,
  updateSegmentHistoryEvents,
  type ShardNode,
} from '../../core/fanout';

const L = DEFAULT_FANOUT_LIMITS;

/** Compact form of a tree: [from, to, height, children...]. */
function shape(n: ShardNode): unknown {
  return n.children.length === 0 ? [n.from, n.to, n.height] : [n.from, n.to, n.height, n.children.map(shape)];
}

/** Every slot of [0, n) lies in exactly one leaf. */
function leafSlots(n: ShardNode): number[] {
  if (n.height === 0) return Array.from({ length: n.to - n.from }, (_, i) => n.from + i);
  return n.children.flatMap(leafSlots);
}

describe('fan-out planner', () => {
  it('10 episodes: one leaf shard (5 + 30 slack + 2 activities × 6 + 10 children × 9 = 137 events)', () => {
    const tree = planFanout(10);
    expect(shape(tree)).toEqual([0, 10, 0]);
    expect(shardHistoryEvents(tree, L)).toBe(137);
  });

  it('3,000 episodes: a root over six leaves of 500 (the paper RL iteration)', () => {
    const tree = planFanout(3_000);
    expect(shape(tree)).toEqual([0, 3000, 1, [[0, 500, 0], [500, 1000, 0], [1000, 1500, 0], [1500, 2000, 0], [2000, 2500, 0], [2500, 3000, 0]]]);
    // root: 35 + 6 × 9 = 89; a leaf: 35 + 12 + 500 × 9 = 4,547
    expect(shardHistoryEvents(tree, L)).toBe(89);
    expect(shardHistoryEvents(tree.children[0]!, L)).toBe(4_547);
    expect(summarize(tree, L)).toEqual({ height: 1, shards: 7, leaves: 6, maxShardEvents: 4_547, maxChildren: 500 });
  });

  it('70,000 episodes: height 2, two inner shards of 35,000, each over 70 leaves of 500 (the paper RFT stage)', () => {
    const tree = planFanout(70_000);
    expect(tree.height).toBe(2);
    expect(tree.children.map((c) => [c.from, c.to, c.height, c.children.length])).toEqual([
      [0, 35_000, 1, 70],
      [35_000, 70_000, 1, 70],
    ]);
    expect(tree.children[1]!.children[69]).toEqual({ from: 69_500, to: 70_000, height: 0, children: [] });
    const s = summarize(tree, L);
    expect(s).toEqual({ height: 2, shards: 143, leaves: 140, maxShardEvents: 4_547, maxChildren: 500 });
    expect(s.maxShardEvents).toBeLessThanOrEqual(L.maxHistoryEvents);
    expect(s.maxChildren).toBeLessThanOrEqual(TEMPORAL_MAX_PENDING_CHILDREN);
    expect(leafSlots(tree)).toEqual(Array.from({ length: 70_000 }, (_, i) => i));
  });

  it('24 episodes with leaves of 5 and branching 2 (the integration test): height 3, 8 leaves of 3', () => {
    const small = { leafEpisodes: 5, branching: 2, maxHistoryEvents: 10_000 };
    const tree = planFanout(24, small);
    expect(shape(tree)).toEqual([
      0, 24, 3,
      [
        [0, 12, 2, [[0, 6, 1, [[0, 3, 0], [3, 6, 0]]], [6, 12, 1, [[6, 9, 0], [9, 12, 0]]]]],
        [12, 24, 2, [[12, 18, 1, [[12, 15, 0], [15, 18, 0]]], [18, 24, 1, [[18, 21, 0], [21, 24, 0]]]]],
      ],
    ]);
    expect(leafSlots(tree)).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });

  it('any size: every slot in exactly one leaf, every shard within the limits, height logarithmic', () => {
    for (const n of [0, 1, 499, 500, 501, 2_999, 50_000, 50_001, 123_457]) {
      const tree = planFanout(n);
      expect(leafSlots(tree)).toHaveLength(n);
      expect(new Set(leafSlots(tree)).size).toBe(n);
      const s = summarize(tree, L);
      expect(s.maxChildren).toBeLessThanOrEqual(Math.max(L.leafEpisodes, L.branching));
      expect(s.maxShardEvents).toBeLessThanOrEqual(L.maxHistoryEvents);
      expect(s.height).toBe(rootHeight(n, L));
    }
    expect(rootHeight(1_000_000, L)).toBe(2);
  });

  it('children split as evenly as possible and never exceed their capacity', () => {
    expect(childRanges({ from: 10, to: 1_011, height: 1 }, L).map((r) => r.to - r.from)).toEqual([334, 334, 333]);
  });

  it('update steps go in segments of ≤ 200 steps, whose histories and the iteration’s stay within 10,000 events', () => {
    expect(segmentRanges(450)).toEqual([{ from: 0, to: 200 }, { from: 200, to: 400 }, { from: 400, to: 450 }]);
    expect(segmentRanges(0)).toEqual([]);
    expect(updateSegmentHistoryEvents(200)).toBe(3_635);
    // RFT at paper scale: 70,000 episodes, every one kept, batch 64: 1,094 steps in 6 segments.
    const steps = Math.ceil(70_000 / 64);
    expect(segmentRanges(steps)).toHaveLength(6);
    expect(iterationHistoryEvents(6)).toBe(5 + 30 + 60 + 7 * 9);
    expect(iterationHistoryEvents(6)).toBeLessThanOrEqual(L.maxHistoryEvents);
  });

  it('refuses limits Temporal would refuse', () => {
    expect(() => planFanout(10, { leafEpisodes: 2_001, branching: 10, maxHistoryEvents: 10_000 })).toThrow(/pending children/);
    expect(() => planFanout(10, { leafEpisodes: 5, branching: 1, maxHistoryEvents: 10_000 })).toThrow(/branching/);
  });
});
