/**
 * A deterministic pseudo-random sequence in [0, 1) (a 32-bit linear congruential generator): the same
 * seed gives the same numbers, so a randomized test or a bench run can be repeated and compared.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}
