/** All toy task specs; generate.ts sorts them by instance id, so order here does not matter. */
import type { ToyTaskSpec } from '../spec';
import { dataSpecs } from './data';
import { multiSpecs } from './multi';
import { multiSpecs2 } from './multi2';
import { numberSpecs } from './numbers';
import { textSpecs } from './text';

export const toySpecs: readonly ToyTaskSpec[] = [...textSpecs, ...numberSpecs, ...dataSpecs, ...multiSpecs, ...multiSpecs2];
