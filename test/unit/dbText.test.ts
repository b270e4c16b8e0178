import { describe, expect, it } from 'vitest';
import { storable, storableJson } from '../../db/text';

describe('storable', () => {
  it('replaces NUL by U+FFFD and keeps everything else', () => {
    expect(storable('a\u0000b\u0000')).toBe('a\uFFFDb\uFFFD');
    expect(storable('plain ascii')).toBe('plain ascii');
    expect(storable('')).toBe('');
    // A valid surrogate pair (U+1F600) and other control characters stay.
    expect(storable('\uD83D\uDE00 tab\t bell\u0007')).toBe('\uD83D\uDE00 tab\t bell\u0007');
  });

  it('replaces lone surrogates, one U+FFFD per code unit, keeping the length', () => {
    expect(storable('x\uD800y')).toBe('x\uFFFDy'); // high without low
    expect(storable('x\uDC00y')).toBe('x\uFFFDy'); // low without high
    expect(storable('\uDC00\uD800')).toBe('\uFFFD\uFFFD'); // reversed pair: both lone
    expect(storable('end\uD83D')).toBe('end\uFFFD'); // pair cut at the end (a truncated tail)
    expect(storable('\uDE00start')).toBe('\uFFFDstart'); // pair cut at the start
    expect(storable('\uD83D\uD83D\uDE00')).toBe('\uFFFD\uD83D\uDE00');
    expect(storable('a\u0000\uD800b').length).toBe(4);
  });

  it('passes null and undefined through', () => {
    expect(storable(null)).toBeNull();
    expect(storable(undefined)).toBeUndefined();
  });
});

describe('storableJson', () => {
  it('cleans strings at every depth, keys included, and keeps other values', () => {
    const when = new Date(0);
    const input = { 'k\u0000': ['a\u0000', 1, true, null, { deep: 'x\uD800' }], n: 2.5, when, ok: 'fine' };
    expect(storableJson(input)).toEqual({ 'k\uFFFD': ['a\uFFFD', 1, true, null, { deep: 'x\uFFFD' }], n: 2.5, when, ok: 'fine' });
    expect(storableJson(input).when).toBe(when);
    // The input is not modified.
    expect(input['k\u0000'][0]).toBe('a\u0000');
  });

  it('gives JSON that has no \\u0000 and no lone surrogate escape', () => {
    const json = JSON.stringify(storableJson({ tail: 'out\u0000put\uDBFF', list: ['\uDFFF'] }));
    expect(json).toBe('{"tail":"out\uFFFDput\uFFFD","list":["\uFFFD"]}');
    expect(json).not.toMatch(/\\u0000|\\ud[89a-f]/i);
  });

  it('handles top-level strings and scalars', () => {
    expect(storableJson('a\u0000')).toBe('a\uFFFD');
    expect(storableJson(7)).toBe(7);
    expect(storableJson(null)).toBeNull();
  });
});
