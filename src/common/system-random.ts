/**
 * Uniform numbers in [0, 1) from the process's own generator: the default wherever code takes an injected `rng`
 * (tests pass seededRandom instead), so that code itself never calls Math.random.
 */
export const systemRandom = (): number => Math.random();
