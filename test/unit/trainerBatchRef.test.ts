import { describe, expect, it } from 'vitest';
import { batchConnectionString } from '../../activities/trainer/contract';
import { TrainerError } from '../../core/errors';

describe('batchConnectionString (the test double resolves Postgres batch references as the trainer does)', () => {
  it('puts the batch database on the trainer’s own server URL, credentials included', () => {
    expect(batchConnectionString({ kind: 'postgres', database: 'swerl_test_1' }, 'postgres://swerl:s3cret@db:5432/swerl')).toBe('postgres://swerl:s3cret@db:5432/swerl_test_1');
  });
  it('uses a legacy batch’s own DSN (histories before swerl-batch-ref-no-dsn)', () => {
    expect(batchConnectionString({ kind: 'postgres', dsn: 'postgres://p@h:1/x' }, 'postgres://other@h2:2/y')).toBe('postgres://p@h:1/x');
    expect(batchConnectionString({ kind: 'postgres', dsn: 'postgres://p@h:1/x' }, undefined)).toBe('postgres://p@h:1/x');
  });
  it('without a configured URL a database reference is SWERL_TRAINER_FAILED naming the database', () => {
    let err: unknown;
    try {
      batchConnectionString({ kind: 'postgres', database: 'swerl' }, undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TrainerError);
    expect(err).toMatchObject({ code: 'SWERL_TRAINER_FAILED', details: { database: 'swerl' } });
  });
});
