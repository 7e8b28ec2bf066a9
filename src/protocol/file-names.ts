import { KilnError } from './errors.ts';

/** Longest artifact file name kiln accepts, in bytes of UTF-8 (PATH_MAX on Linux). */
export const maxFileNameBytes = 4096;
/** Longest single path segment, in bytes (NAME_MAX on Linux). */
export const maxSegmentBytes = 255;

/**
 * Why a name cannot be an artifact file name, or `undefined` when it can.
 *
 * A file name is a relative POSIX path: segments joined by `/`, none empty, `.`
 * or `..`, with no control characters (NUL, newlines, DEL), no backslash and no
 * unpaired surrogate, so that no name can escape the artifact when a client
 * writes it to disk.
 */
export function explainBadFileName(name: string): string | undefined {
  if (name.length === 0) {
    return 'the file name is empty';
  }
  if (name.startsWith('/')) {
    return 'the file name is an absolute path';
  }
  if (/[\u0000-\u001f\u007f]/u.test(name)) {
    return 'the file name contains a control character';
  }
  if (!name.isWellFormed()) {
    // An unpaired surrogate has no UTF-8 form: it could be neither stored nor named in a URL.
    return 'the file name is not valid Unicode (an unpaired surrogate)';
  }
  if (name.includes('\\')) {
    return 'the file name contains a backslash';
  }
  if (Buffer.byteLength(name) > maxFileNameBytes) {
    return `the file name is longer than ${maxFileNameBytes} bytes`;
  }
  for (const segment of name.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      return `the file name has an empty, "." or ".." segment`;
    }
    if (Buffer.byteLength(segment) > maxSegmentBytes) {
      return `a segment of the file name is longer than ${maxSegmentBytes} bytes`;
    }
  }
  return undefined;
}

/** Throws `invalid_file_name` unless `name` is a valid artifact file name. */
export function assertFileName(name: string): void {
  const reason = explainBadFileName(name);
  if (reason !== undefined) {
    throw new KilnError('invalid_file_name', `${JSON.stringify(name)}: ${reason}`);
  }
}
