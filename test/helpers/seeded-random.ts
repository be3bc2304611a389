// Randomized tests draw from the same seeded generator the simulations use.
export { seededRandom } from '../../src/common/seeded-random';
