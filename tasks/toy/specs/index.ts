/** All toy task specs; generate.ts sorts them by instance id, so order here does not matter. */
import type { ToyTaskSpec } from '../spec';
import { dataSpecs } from './data';
import { dataSpecs2 } from './data2';
import { multiSpecs } from './multi';
import { multiSpecs2 } from './multi2';
import { multiSpecs3 } from './multi3';
import { multiSpecs4 } from './multi4';
import { numberSpecs } from './numbers';
import { numberSpecs2 } from './numbers2';
import { textSpecs } from './text';
import { textSpecs2 } from './text2';

export const toySpecs: readonly ToyTaskSpec[] = [
  ...textSpecs, ...textSpecs2, ...numberSpecs, ...numberSpecs2, ...dataSpecs, ...dataSpecs2,
  ...multiSpecs, ...multiSpecs2, ...multiSpecs3, ...multiSpecs4,
];
