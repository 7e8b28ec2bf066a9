/**
 * Decompresses a .deb's control member: gzip and zstd synchronously with
 * node:zlib (control members are small), xz with `xz-decompress` (WebAssembly,
 * so no native binding has to match the platform at install time).
 */
import { constants, createGunzip, gunzipSync, type Gunzip, zstdDecompressSync } from 'node:zlib';
import xzDecompress from 'xz-decompress';
import { DebFileError } from './deb-file-error.ts';
import type { ControlCompression } from './deb-layout.ts';

/**
 * The most a control.tar may expand to. The largest in Debian (md5sums of
 * packages with a hundred thousand files) are around ten MiB.
 */
export const maxControlTarSize = 64 * 1024 * 1024;

/**
 * The decompressed bytes of `member` (named `name` in messages). Throws
 * `DebFileError` for corrupt or truncated data, or output beyond `maxControlTarSize`.
 */
export async function decompressMember(
  member: Uint8Array,
  compression: ControlCompression,
  name: string,
): Promise<Uint8Array> {
  try {
    return compression === 'xz' ? await unxz(member) : decompress(member, compression);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DebFileError(`${name} expands to more than ${maxControlTarSize} bytes`, {
        cause: error,
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new DebFileError(`${name} is corrupt: ${oneLine(reason)}`, { cause: error });
  }
}

function decompress(
  member: Uint8Array,
  compression: Exclude<ControlCompression, 'xz'>,
): Uint8Array {
  switch (compression) {
    case 'none':
      return member;
    case 'gzip':
      return gunzip(member);
    case 'zstd':
      return zstdDecompressSync(member, { maxOutputLength: maxControlTarSize });
  }
}

/**
 * The size of zlib's output buffers for a gzip member: the size its trailer
 * declares (ISIZE, RFC 1952 §2.3.1), within bounds. A control.tar is a few
 * KB: zlib's default of 16 KB, a buffer of its own for every .deb (too large
 * for Node's pool), cost 20,000 small .debs twice the garbage collection.
 */
function outputChunkSize(member: Uint8Array): number {
  const end = member.length;
  const declared =
    end < 4
      ? 0
      : ((member[end - 4] ?? 0) |
          ((member[end - 3] ?? 0) << 8) |
          ((member[end - 2] ?? 0) << 16) |
          ((member[end - 1] ?? 0) << 24)) >>>
        0;
  // One byte more: with the buffer full, zlib would make another to look for more output.
  return Math.min(Math.max(declared + 1, minChunkSize), maxChunkSize);
}

/** zlib's least output buffer (Z_MIN_CHUNK), and the most given at once before any output. */
const minChunkSize = 64;
const maxChunkSize = 1024 * 1024;

/** This thread's gzip stream, kept from one member to the next (see `ReusedGunzip`). */
let reused: ReusedGunzip | undefined;

function gunzip(member: Uint8Array): Uint8Array {
  reused ??= ReusedGunzip.create();
  if (reused === undefined) {
    return gunzipSync(member, {
      maxOutputLength: maxControlTarSize,
      chunkSize: outputChunkSize(member),
    });
  }
  try {
    return reused.gunzip(member);
  } catch (error) {
    // zlib's stream is closed after an error: the next member gets a new one.
    reused = undefined;
    throw error;
  }
}

/**
 * The internals of a zlib stream that `gunzipSync` drives (lib/zlib.js,
 * `processChunkSync`): its handle, and where a write leaves how much output
 * room and input were left.
 */
interface ZlibInternals {
  readonly _handle?: {
    reset(): void;
    writeSync(
      flush: number,
      input: Uint8Array,
      inputOffset: number,
      inputLength: number,
      output: Uint8Array,
      outputOffset: number,
      outputLength: number,
    ): void;
  };
  readonly _writeState?: Uint32Array;
}

/**
 * One gzip stream for every control member of this thread, reset between
 * them. `gunzipSync` makes a stream, and zlib's state for it, for every
 * call and closes it after: 7-14 µs a member of a few KB, against 3 here
 * (20,000 .debs: 0.2 s of a reading thread). Node has no public synchronous
 * way to reuse one, so this drives the stream's handle as `gunzipSync` does;
 * on a Node without these internals, `create` gives undefined and members
 * go to `gunzipSync`. Same results: zlib's gzip decoding, several members
 * read one after the other, CRC and length checked, an error thrown with
 * zlib's message.
 */
class ReusedGunzip {
  readonly #stream: Gunzip;
  readonly #handle: NonNullable<ZlibInternals['_handle']>;
  readonly #state: Uint32Array;

  private constructor(
    stream: Gunzip,
    handle: NonNullable<ZlibInternals['_handle']>,
    state: Uint32Array,
  ) {
    this.#stream = stream;
    this.#handle = handle;
    this.#state = state;
  }

  static create(): ReusedGunzip | undefined {
    const stream = createGunzip();
    // An error also comes as an event, after the throw that reports it.
    stream.on('error', () => undefined);
    const { _handle: handle, _writeState: state } = stream as unknown as ZlibInternals;
    if (
      typeof handle?.reset !== 'function' ||
      typeof handle.writeSync !== 'function' ||
      !(state instanceof Uint32Array)
    ) {
      stream.destroy();
      return undefined;
    }
    return new ReusedGunzip(stream, handle, state);
  }

  /** The decompressed member; throws zlib's error, or ERR_BUFFER_TOO_LARGE past `maxControlTarSize`. */
  gunzip(member: Uint8Array): Uint8Array {
    const handle = this.#handle;
    handle.reset();
    const chunks: Buffer[] = [];
    let size = 0;
    let inputOffset = 0;
    let inputLeft = member.length;
    for (let room = outputChunkSize(member); ; room = maxChunkSize) {
      const output = Buffer.allocUnsafe(room);
      handle.writeSync(constants.Z_FINISH, member, inputOffset, inputLeft, output, 0, room);
      // zlib reports an error by destroying the stream, synchronously.
      const error = this.#stream.errored;
      if (error !== null) {
        throw error;
      }
      const [roomLeft = 0, inputLeftAfter = 0] = this.#state;
      const made = room - roomLeft;
      size += made;
      if (size > maxControlTarSize) {
        throw tooLarge();
      }
      chunks.push(output.subarray(0, made));
      inputOffset += inputLeft - inputLeftAfter;
      inputLeft = inputLeftAfter;
      // A full output buffer may have more to come; otherwise the stream ended, or its input did.
      if (roomLeft > 0) {
        break;
      }
    }
    if (size === 0) {
      return new Uint8Array(0);
    }
    return chunks.length === 1 ? (chunks[0] ?? new Uint8Array(0)) : Buffer.concat(chunks, size);
  }
}

/** Reads the xz stream chunk by chunk, so that a bomb stops at the limit. */
async function unxz(member: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const input = new Blob([member]).stream();
  for await (const chunk of new xzDecompress.XzReadableStream(input)) {
    size += chunk.length;
    if (size > maxControlTarSize) {
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** The error zlib throws past `maxOutputLength`, which `decompressMember` reports as too large. */
function tooLarge(): Error {
  return Object.assign(new Error('too large'), { code: 'ERR_BUFFER_TOO_LARGE' });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}
