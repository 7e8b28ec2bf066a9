// @ts-check
/**
 * The worker thread of `createSha256Pool` (sha256-pool.ts): writes blocks of
 * shared memory to their files (when told where) and hashes them, for several
 * contents at once, each in the order its blocks come, and answers each
 * message once it is done with the block. Writing here, synchronously, keeps
 * the receiving thread's event loop free of both.
 *
 * JavaScript, type-checked from its JSDoc, rather than TypeScript: Node strips
 * a worker's types with a WebAssembly compiler of its own, which made the
 * thread cost 32 MB of memory instead of 10.
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** @typedef {import('./sha256-pool.ts').HashRequest} HashRequest */
/** @typedef {import('./sha256-pool.ts').HashReply} HashReply */

const port = parentPort;
if (port === null) {
  throw new Error('sha256-worker.js runs as a worker thread');
}
/** @type {Map<number, import('node:crypto').Hash>} */
const hashes = new Map();

port.on('message', (/** @type {HashRequest} */ request) => {
  /** @type {HashReply} */
  let reply;
  switch (request.op) {
    case 'update': {
      const block = new Uint8Array(request.memory, request.offset, request.length);
      try {
        if (request.fd !== undefined) {
          const position = request.position ?? 0;
          for (let done = 0; done < block.length;) {
            done += writeSync(request.fd, block, done, block.length - done, position + done);
          }
        }
      } catch (error) {
        const { code, message } = /** @type {NodeJS.ErrnoException} */ (error);
        reply = { job: request.job, seq: request.seq, error: { code, message } };
        break;
      }
      let hash = hashes.get(request.job);
      if (hash === undefined) {
        hash = createHash('sha256');
        hashes.set(request.job, hash);
      }
      hash.update(block);
      reply = { job: request.job, seq: request.seq };
      break;
    }
    case 'digest': {
      const digest = (hashes.get(request.job) ?? createHash('sha256')).digest('hex');
      hashes.delete(request.job);
      reply = { job: request.job, seq: request.seq, digest };
      break;
    }
    case 'drop':
      hashes.delete(request.job);
      return;
  }
  port.postMessage(reply);
});
