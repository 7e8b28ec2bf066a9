/**
 * A reading thread of `createDebReaders` (deb-readers.ts): reads the .debs
 * of a task, each a slice of the task's bytes, in order.
 */
import { readDebsHere, type ReadOutcome, type ReadTask } from './deb-readers.ts';

export default async function read({ component, debs, bytes }: ReadTask): Promise<ReadOutcome[]> {
  const contents: Uint8Array[] = [];
  let offset = 0;
  for (const { size } of debs) {
    contents.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return readDebsHere(component, debs, contents);
}
