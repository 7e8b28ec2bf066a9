import { createHash, type Hash } from 'node:crypto';

/**
 * SHA256 states of index files published lately, part by part, so that an
 * index changed only at its end (a package added fills its last chunk or
 * opens a new one) is hashed from there rather than read and hashed whole:
 * the Release file needs the hash of the whole index, and SHA256 cannot be
 * updated in the middle. Per server process and bounded; a miss (another
 * replica published, a server restarted, a change in the middle) costs one
 * full hash, never a wrong one: a state is found only by the exact list of
 * parts it hashed.
 */
export interface IndexHashCache {
  /** The longest cached prefix of `parts` (at most `parts.length`), with a state to go on from. */
  find(
    parts: readonly string[],
    upTo: number,
  ): { readonly length: number; readonly state: HashState };
  /** Remembers the state after `parts` (a copy is kept: the caller may go on updating its own). */
  remember(parts: readonly string[], state: HashState): void;
}

/** A running SHA256 and the bytes it has taken. */
export interface HashState {
  readonly hash: Hash;
  readonly size: number;
}

/** States kept: two per index (before and after its last part), for a few dozen indices. */
const defaultCapacity = 256;

export function createIndexHashCache(capacity = defaultCapacity): IndexHashCache {
  // A Map iterates in insertion order: the first key is the least recently used.
  const states = new Map<string, HashState>();
  const keyOf = (parts: readonly string[], length: number) =>
    createHash('sha256').update(parts.slice(0, length).join('\n')).digest('hex');
  return {
    find(parts, upTo) {
      // Appends need the state after all parts but the last, or after all of them.
      for (const length of [upTo, upTo - 1]) {
        if (length <= 0) {
          break;
        }
        const key = keyOf(parts, length);
        const found = states.get(key);
        if (found !== undefined) {
          states.delete(key);
          states.set(key, found);
          return { length, state: { hash: found.hash.copy(), size: found.size } };
        }
      }
      return { length: 0, state: { hash: createHash('sha256'), size: 0 } };
    },
    remember(parts, state) {
      const key = keyOf(parts, parts.length);
      states.delete(key);
      states.set(key, { hash: state.hash.copy(), size: state.size });
      while (states.size > capacity) {
        const oldest = states.keys().next();
        if (oldest.done === true) {
          break;
        }
        states.delete(oldest.value);
      }
    },
  };
}
