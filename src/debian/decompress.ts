/**
 * Decompresses a .deb's control member: gzip and zstd with node:zlib, xz with
 * `@napi-rs/lzma`. All synchronous: control members are small, and a parse
 * that never yields is the fastest for many of them.
 */
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { xz } from '@napi-rs/lzma';
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
export function decompressMember(
  member: Uint8Array,
  compression: ControlCompression,
  name: string,
): Uint8Array {
  let output: Uint8Array;
  try {
    output = decompress(member, compression);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DebFileError(`${name} expands to more than ${maxControlTarSize} bytes`, {
        cause: error,
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new DebFileError(`${name} is corrupt: ${oneLine(reason)}`, { cause: error });
  }
  // The xz binding takes no output limit, so this check comes only afterwards.
  if (output.length > maxControlTarSize) {
    throw new DebFileError(`${name} expands to more than ${maxControlTarSize} bytes`);
  }
  return output;
}

function decompress(member: Uint8Array, compression: ControlCompression): Uint8Array {
  switch (compression) {
    case 'none':
      return member;
    case 'gzip':
      return gunzipSync(member, { maxOutputLength: maxControlTarSize });
    case 'zstd':
      return zstdDecompressSync(member, { maxOutputLength: maxControlTarSize });
    case 'xz':
      return xz.decompressSync(member);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}
