/**
 * A reading thread of `createDebReaders` (deb-readers.ts): reads the .debs
 * of each task, each a slice of the task's bytes, and answers tasks in the
 * order they come.
 */
import { parentPort } from 'node:worker_threads';
import { packReply, readDebsHere, type ReadReply, type ReadTask } from './deb-readers.ts';

const port = parentPort;
if (port === null) {
  throw new Error('deb-reader.worker.ts runs as a worker thread');
}

port.on('message', ({ seq, component, debs, bytes }: ReadTask) => {
  const contents: Uint8Array[] = [];
  let offset = 0;
  for (const { size } of debs) {
    contents.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  readDebsHere(component, debs, contents).then(
    (outcomes) => {
      const reply = packReply(seq, outcomes);
      port.postMessage(reply, [reply.stanzas.buffer as ArrayBuffer]);
    },
    (error: unknown) => {
      port.postMessage({ seq, failure: String(error) } satisfies ReadReply);
    },
  );
});
