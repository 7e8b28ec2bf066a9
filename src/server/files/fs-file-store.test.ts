import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { KilnError } from '../../protocol/errors.ts';
import type { FileStore } from './file-store.ts';
import { createFsFileStore, listStoredContents } from './fs-file-store.ts';

const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');

/** Collects a stream into one buffer. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** `content` as a stream of chunks of at most `size` bytes. */
function chunked(content: Buffer, size = 1000): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < content.length; offset += size) {
    chunks.push(content.subarray(offset, offset + size));
  }
  return Readable.from(chunks);
}

const isKilnError = (code: string) => (error: unknown) =>
  error instanceof KilnError && error.code === code;

describe('createFsFileStore', () => {
  let root: string;
  let store: FileStore;
  const staged = () => readdir(join(root, 'staging'));
  const blobPath = (digest: string) => join(root, 'blobs', digest.slice(0, 2), digest);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'kiln-store-test-'));
    store = await createFsFileStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stages content with its size and sha256, visible only once committed', async () => {
    const content = randomBytes(10_000);
    const file = await store.stage(chunked(content), { maxSize: content.length });
    assert.equal(file.size, content.length);
    assert.equal(file.sha256, sha256(content));
    assert.equal((await staged()).length, 1);
    assert.equal(await store.has(file.sha256), false);
    await assert.rejects(store.openRead(file.sha256), isKilnError('not_found'));

    await file.commit();
    assert.equal(await store.has(file.sha256), true);
    assert.ok((await readFile(blobPath(file.sha256))).equals(content));
    assert.deepEqual(await staged(), []);
    assert.ok((await readAll(await store.openRead(file.sha256))).equals(content));
    // Discarding after the commit leaves the committed content alone.
    await file.discard();
    assert.equal(await store.has(file.sha256), true);
  });

  it('stages empty content', async () => {
    const file = await store.stage(Readable.from([]), { maxSize: 0 });
    assert.equal(file.size, 0);
    assert.equal(file.sha256, sha256(Buffer.alloc(0)));
    await file.commit();
    assert.equal((await readAll(await store.openRead(file.sha256))).length, 0);
  });

  it('discards staged content, twice without harm', async () => {
    const content = randomBytes(100);
    const file = await store.stage(Readable.from([content]), { maxSize: 100 });
    await file.discard();
    await file.discard();
    assert.deepEqual(await staged(), []);
    assert.equal(await store.has(file.sha256), false);
  });

  it('reads an inclusive byte range', async () => {
    const content = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const file = await store.stage(Readable.from([content]), { maxSize: 256 });
    await file.commit();
    const read = (start: number, end: number) =>
      store.openRead(file.sha256, { start, end }).then(readAll);
    assert.ok((await read(10, 19)).equals(content.subarray(10, 20)));
    assert.ok((await read(0, 0)).equals(content.subarray(0, 1)));
    assert.ok((await read(255, 255)).equals(content.subarray(255)));
    assert.ok((await read(0, 255)).equals(content));
  });

  it('refuses content over maxSize with too_large, keeping nothing', async () => {
    const content = randomBytes(5000);
    await assert.rejects(
      store.stage(chunked(content), { maxSize: content.length - 1 }),
      isKilnError('too_large'),
    );
    assert.deepEqual(await staged(), []);
    assert.equal(await store.has(sha256(content)), false);
    // Exactly maxSize is fine.
    const file = await store.stage(chunked(content), { maxSize: content.length });
    assert.equal(file.size, content.length);
    await file.discard();
  });

  it('removes the staged file when the source fails midway', async () => {
    async function* failing() {
      yield randomBytes(1000);
      yield randomBytes(1000);
      throw new Error('the client went away');
    }
    await assert.rejects(
      store.stage(Readable.from(failing()), { maxSize: 1_000_000 }),
      /the client went away/,
    );
    assert.deepEqual(await staged(), []);
  });

  it('stops and removes the staged file when aborted', async () => {
    const controller = new AbortController();
    const source = new Readable({ read() {} });
    source.push(randomBytes(1000));
    const staging = store.stage(source, { maxSize: 1_000_000, signal: controller.signal });
    while ((await staged()).length === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    controller.abort();
    await assert.rejects(staging, { name: 'AbortError' });
    assert.deepEqual(await staged(), []);
  });

  it('removes content, and removing absent content is no error', async () => {
    const content = randomBytes(100);
    const file = await store.stage(Readable.from([content]), { maxSize: 100 });
    await file.commit();
    await store.remove([file.sha256]);
    assert.equal(await store.has(file.sha256), false);
    await assert.rejects(stat(blobPath(file.sha256)), { code: 'ENOENT' });
    await store.remove([file.sha256]);
    await store.remove(['0'.repeat(64)]);
  });

  it('commits the same content twice into one blob', async () => {
    const content = randomBytes(300);
    for (let i = 0; i < 2; i += 1) {
      const file = await store.stage(Readable.from([content]), { maxSize: 300 });
      await file.commit();
    }
    const digest = sha256(content);
    const tree = await readdir(join(root, 'blobs'), { recursive: true });
    assert.deepEqual(tree.sort(), [digest.slice(0, 2), join(digest.slice(0, 2), digest)]);
    assert.ok((await readAll(await store.openRead(digest))).equals(content));
    assert.deepEqual(await staged(), []);
  });

  it('packs small content given in memory for a batch, found by another server once synced', async () => {
    const contents = [randomBytes(2000), Buffer.alloc(0), randomBytes(70_000)];
    const files = await Promise.all(
      contents.map((c) => store.stage(c, { maxSize: c.length, deferSync: true })),
    );
    const discarded = randomBytes(50);
    const dropped = await store.stage(discarded, { maxSize: 50, deferSync: true });
    await dropped.discard();
    for (const file of files) {
      await file.commit();
      await file.discard();
    }
    // Nothing is a file of its own, nothing staged.
    assert.deepEqual(await readdir(join(root, 'blobs')), []);
    assert.deepEqual(await staged(), []);
    const other = await createFsFileStore(root);
    assert.equal(await other.has(sha256(contents[0] ?? Buffer.alloc(0))), false);

    await store.sync(files.map((f) => f.sha256));
    for (const [index, content] of contents.entries()) {
      const digest = sha256(content);
      assert.equal(await other.has(digest), true);
      assert.ok((await other.read(digest)).equals(content), `read ${index}`);
      assert.ok((await readAll(await other.openRead(digest))).equals(content), `openRead ${index}`);
      const opened = await other.openContent(digest);
      assert.equal(opened.size, content.length);
      await opened.close();
    }
    const many = await other.readMany([...contents].reverse().map((c) => sha256(c)));
    assert.deepEqual(many, [...contents].reverse());
    const big = sha256(contents[2] ?? Buffer.alloc(0));
    const range = await readAll(await other.openRead(big, { start: 100, end: 199 }));
    assert.ok(range.equals(contents[2]?.subarray(100, 200) ?? Buffer.alloc(0)));
    assert.equal(await other.has(sha256(discarded)), false);
    assert.deepEqual(
      (await listStoredContents(root)).sort(),
      contents.map((c) => sha256(c)).sort(),
    );

    // Removed by the other server: gone for this one too.
    await other.remove([big]);
    assert.equal(await store.has(big), false);
    await assert.rejects(store.read(big), isKilnError('not_found'));
    await assert.rejects(store.openRead(big), isKilnError('not_found'));
    await assert.rejects(
      store.readMany([sha256(contents[0] ?? Buffer.alloc(0)), big]),
      isKilnError('not_found'),
    );
  });

  it('stages several small contents with one write, each committed or discarded on its own', async () => {
    const contents = [randomBytes(900), Buffer.alloc(0), randomBytes(3000), randomBytes(10)];
    const files = await store.stageMany(contents, { maxSize: 3000, deferSync: true });
    assert.deepEqual(
      files.map((f) => [f.sha256, f.size]),
      contents.map((c) => [sha256(c), c.length]),
    );
    // The last one discarded: its bytes stay as dead space, never found.
    await files[3]?.discard();
    for (const file of files.slice(0, 3)) {
      await file.commit();
    }
    await store.sync(files.slice(0, 3).map((f) => f.sha256));
    const other = await createFsFileStore(root);
    assert.deepEqual(
      await other.readMany(contents.slice(0, 3).map((c) => sha256(c))),
      contents.slice(0, 3),
    );
    assert.equal(await other.has(sha256(contents[3] ?? Buffer.alloc(0))), false);
    assert.deepEqual(await readdir(join(root, 'blobs')), []);

    // Over maxSize: refused, nothing staged.
    await assert.rejects(
      store.stageMany([randomBytes(10), randomBytes(20)], { maxSize: 15, deferSync: true }),
      isKilnError('too_large'),
    );
  });

  it('removes staged files abandoned for over a day when opened, not fresh ones', async () => {
    const abandoned = join(root, 'staging', 'abandoned');
    const fresh = join(root, 'staging', 'fresh');
    await writeFile(abandoned, 'old');
    await writeFile(fresh, 'new');
    const twoDaysAgo = new Date(Date.now() - 2 * 86400 * 1000);
    await utimes(abandoned, twoDaysAgo, twoDaysAgo);
    await createFsFileStore(root);
    assert.deepEqual(await staged(), ['fresh']);
  });
  it('moves the blobs of the two-level layout up one level when opened', async () => {
    // A store as kiln kept it before: no `one-level` mark.
    await rm(join(root, 'one-level'));
    const contents = [randomBytes(100), randomBytes(200), randomBytes(300)];
    const digests = contents.map(sha256);
    const oldPath = (digest: string) => join(root, 'blobs', digest.slice(0, 2), digest.slice(2, 4));
    // The first two as the earlier layout kept them; the third already moved.
    for (const [index, content] of contents.entries()) {
      const digest = sha256(content);
      const dir = index < 2 ? oldPath(digest) : join(root, 'blobs', digest.slice(0, 2));
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, digest), content);
    }
    const reopened = await createFsFileStore(root);
    for (const [index, content] of contents.entries()) {
      const digest = sha256(content);
      assert.ok((await reopened.read(digest)).equals(content));
      assert.ok((await readFile(blobPath(digest))).equals(content));
      if (index < 2) {
        await assert.rejects(stat(oldPath(digest)), { code: 'ENOENT' });
      }
    }
    const tree = await readdir(join(root, 'blobs'), { recursive: true });
    assert.deepEqual(
      tree.sort(),
      [...new Set(digests.map((d) => d.slice(0, 2)))]
        .concat(digests.map((d) => join(d.slice(0, 2), d)))
        .sort(),
    );
  });
  it('looks for two-level blobs no more once a store is marked one-level', async () => {
    const content = randomBytes(100);
    const digest = sha256(content);
    const oldDir = join(root, 'blobs', digest.slice(0, 2), digest.slice(2, 4));
    await mkdir(oldDir, { recursive: true });
    await writeFile(join(oldDir, digest), content);
    await createFsFileStore(root);
    assert.ok((await readFile(join(oldDir, digest))).equals(content));
    await assert.rejects(stat(blobPath(digest)), { code: 'ENOENT' });
  });
});

describe('listStoredContents', () => {
  it('lists the blobs of a store that never packed a content, and makes no packs/', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kiln-list-stored-'));
    try {
      const digest = sha256(Buffer.from('loose'));
      await mkdir(join(root, 'blobs', digest.slice(0, 2)), { recursive: true });
      await writeFile(join(root, 'blobs', digest.slice(0, 2), digest), 'loose');
      assert.deepEqual(await listStoredContents(root), [digest]);
      assert.deepEqual(await readdir(root), ['blobs']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
