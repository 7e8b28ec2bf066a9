import { createHash, type Hash } from 'node:crypto';

/**
 * SHA256 and SHA512 states of index files published lately, part by part, so that an
 * index changed only at its end (a package added fills its last chunk or
 * opens a new one) is hashed from there rather than read and hashed whole:
 * the Release file needs the hashes of the whole index, and neither can be
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

/** A running SHA256 and SHA512, and the bytes they have taken. */
export interface HashState {
  readonly sha256: Hash;
  readonly sha512: Hash;
  readonly size: number;
}

export function newHashState(): HashState {
  return { sha256: createHash('sha256'), sha512: createHash('sha512'), size: 0 };
}

/** `state` having taken `bytes` too (the same hashes, updated). */
export function updateHashState(state: HashState, bytes: Buffer): HashState {
  return {
    sha256: state.sha256.update(bytes),
    sha512: state.sha512.update(bytes),
    size: state.size + bytes.length,
  };
}

/** A copy that goes on apart from `state`. */
export function copyHashState(state: HashState): HashState {
  return { sha256: state.sha256.copy(), sha512: state.sha512.copy(), size: state.size };
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
          return { length, state: copyHashState(found) };
        }
      }
      return { length: 0, state: newHashState() };
    },
    remember(parts, state) {
      const key = keyOf(parts, parts.length);
      states.delete(key);
      states.set(key, copyHashState(state));
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
