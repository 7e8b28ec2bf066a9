/**
 * A file that is not a well-formed Debian binary package. The message is one
 * line naming the problem (the file's path is the caller's to add).
 */
export class DebFileError extends Error {
  override readonly name = 'DebFileError';
}
