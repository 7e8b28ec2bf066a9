import type { Readable, Writable } from 'node:stream';

/**
 * Where artifact contents live: a content-addressed store keyed by sha256. A
 * local directory now; object storage later implements the same interface.
 */
export interface FileStore {
  /**
   * Streams `source` into a staging area, hashing it on the way, and stops with
   * `too_large` past `maxSize` bytes. Nothing is visible in the store until the
   * staged file is committed; a failed or discarded stage leaves no file behind.
   * Content already in memory (a small upload, an index chunk) is given as a
   * Buffer: written at once, without a stream's machinery per file.
   */
  stage(source: Readable | Buffer, options: StageOptions): Promise<StagedFile>;
  /**
   * Stages several contents held in memory, each as `stage` would (each at
   * most `maxSize`), written together where the store keeps small contents
   * together: a batch upload of thousands of small files.
   */
  stageMany(contents: readonly Buffer[], options: StageOptions): Promise<StagedFile[]>;
  /** Opens stored content for reading, whole or the inclusive byte range. */
  openRead(sha256: string, range?: ByteRange): Promise<Readable>;
  /** Reads stored content whole into memory: only for small content (a .deb's, an index chunk). */
  read(sha256: string): Promise<Buffer>;
  /**
   * Reads several small contents whole, in the order given, `not_found` if
   * one is not stored: as `read` of each, but cheaper where the store keeps
   * contents together (an include reads thousands of .debs).
   */
  readMany(sha256s: readonly string[]): Promise<Buffer[]>;
  /**
   * Makes stored contents durable (their bytes and their names): what `stage`
   * and `commit` with `deferSync` left to the caller, for a batch at once.
   */
  sync(sha256s: readonly string[]): Promise<void>;
  /**
   * Opens stored content to send it, `not_found` if it is not stored: cheaper
   * than `openRead` when all that is done with the bytes is writing them out.
   */
  openContent(sha256: string): Promise<StoredContent>;
  /** Whether the content is stored. */
  has(sha256: string): Promise<boolean>;
  /** Removes stored contents; removing absent content is not an error. */
  remove(sha256s: readonly string[]): Promise<void>;
  /**
   * Gives back the space of removed contents where several share a file
   * (the garbage collector calls it after removing).
   */
  compact(): Promise<void>;
}

export interface StageOptions {
  readonly maxSize: number;
  readonly signal?: AbortSignal | undefined;
  /**
   * Neither the content nor its commit is made durable one by one: the caller
   * calls `sync` once for a batch, before it records the contents as stored.
   */
  readonly deferSync?: boolean | undefined;
}

export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** Content written to the staging area, with its measured size and digest. */
export interface StagedFile {
  readonly sha256: string;
  readonly size: number;
  /** Moves the content into the store, durably (fsync of file and directory) unless `deferSync`. */
  commit(): Promise<void>;
  /** Deletes the staged content. Safe to call after `commit` or twice. */
  discard(): Promise<void>;
}

/** Stored content, open until closed. */
export interface StoredContent {
  readonly size: number;
  /**
   * Writes the content, whole or the inclusive byte range, to `destination`
   * without ending it, at the pace `destination` takes it. Rejects if
   * `destination` closes or fails first.
   */
  sendTo(destination: Writable, range?: ByteRange): Promise<void>;
  /** Releases the content. Safe to call twice. */
  close(): Promise<void>;
}
