/**
 * Decompresses a .deb's control member: gzip and zstd synchronously with
 * node:zlib (control members are small), xz with `xz-decompress` (WebAssembly,
 * so no native binding has to match the platform at install time).
 */
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
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
      return gunzipSync(member, {
        maxOutputLength: maxControlTarSize,
        chunkSize: outputChunkSize(member),
      });
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

/** Reads the xz stream chunk by chunk, so that a bomb stops at the limit. */
async function unxz(member: Uint8Array): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const input = new Blob([member]).stream();
  for await (const chunk of new xzDecompress.XzReadableStream(input)) {
    size += chunk.length;
    if (size > maxControlTarSize) {
      throw Object.assign(new Error('too large'), { code: 'ERR_BUFFER_TOO_LARGE' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}
