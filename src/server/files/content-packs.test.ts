import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { openContentPacks, type ContentPacks } from './content-packs.ts';

const sha256 = (content: Buffer) => createHash('sha256').update(content).digest('hex');

/** Appends and commits `content` with `packs`; returns its sha256. */
function put(packs: ContentPacks, content: Buffer): string {
  const digest = sha256(content);
  packs.append(content, digest).commit();
  return digest;
}

/** The content stored under `digest` as `packs` finds it after looking on disk. */
function get(packs: ContentPacks, digest: string): Buffer | undefined {
  const place = packs.locate(digest, true);
  return place === undefined ? undefined : packs.readAt(place);
}

describe('openContentPacks', () => {
  let dir: string;
  const files = async (suffix: string) =>
    (await readdir(dir)).filter((name) => name.endsWith(suffix)).sort();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-packs-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds committed content in its own process at once, and in others once flushed', async () => {
    const writer = openContentPacks(dir, 'a');
    const other = openContentPacks(dir, 'b');
    const content = randomBytes(3000);
    const digest = put(writer, content);
    assert.ok(get(writer, digest)?.equals(content));
    assert.equal(get(other, digest), undefined, 'recorded before its bytes were durable');

    await writer.flush();
    assert.ok(get(other, digest)?.equals(content));
    // A process started afterwards (a restart) reads it from the log.
    assert.ok(get(openContentPacks(dir, 'c'), digest)?.equals(content));
  });

  it('never records content that was discarded, or never committed', async () => {
    const writer = openContentPacks(dir, 'a');
    const discarded = randomBytes(100);
    writer.append(discarded, sha256(discarded)).discard();
    const abandoned = randomBytes(100);
    writer.append(abandoned, sha256(abandoned));
    const kept = put(writer, randomBytes(100));
    await writer.flush();

    const other = openContentPacks(dir, 'b');
    assert.deepEqual(other.list(), [kept]);
    assert.equal(get(writer, sha256(discarded)), undefined);
  });

  it('keeps contents of any size, the empty one too, each at its own place', async () => {
    const writer = openContentPacks(dir, 'a');
    const contents = [Buffer.alloc(0), randomBytes(1), randomBytes(70_000), Buffer.from('x')];
    const digests = contents.map((c) => put(writer, c));
    await writer.flush();
    const other = openContentPacks(dir, 'b');
    contents.forEach((content, i) => {
      assert.ok(get(other, digests[i] ?? '')?.equals(content), `content ${i}`);
    });
  });

  it('reads several places at once, neighbours with one read, each its own bytes', async () => {
    const writer = openContentPacks(dir, 'a', { maxBytes: 5000, maxAgeMs: 3600_000 });
    const contents = Array.from({ length: 9 }, (_, i) => randomBytes(i === 4 ? 0 : 700 + i));
    const digests = contents.map((c) => put(writer, c));
    await writer.flush();
    const reader = openContentPacks(dir, 'b');
    // Out of order, across packs, one twice.
    const order = [8, 0, 4, 3, 3, 7, 1];
    const places = order.map((i) => reader.locate(digests[i] ?? '', true));
    assert.ok(places.every((p) => p !== undefined));
    const read = reader.readMany(places);
    order.forEach((i, at) => {
      assert.ok(read[at]?.equals(contents[i] ?? Buffer.alloc(1)), `content ${i} at ${at}`);
    });
  });

  it('removes content for every process, and a removal by one is seen by the others', async () => {
    const writer = openContentPacks(dir, 'a');
    const remover = openContentPacks(dir, 'b');
    const gone = put(writer, randomBytes(500));
    const kept = put(writer, randomBytes(500));
    await writer.flush();

    await remover.remove([gone]);
    await remover.remove(['0'.repeat(64)]); // absent: not an error
    assert.equal(get(writer, gone), undefined);
    assert.ok(get(writer, kept) !== undefined);
    assert.deepEqual(openContentPacks(dir, 'c').list(), [kept]);
  });

  it('removes many contents at once, in every pack and place they are in', async () => {
    // Two writers, small packs: the contents spread over several packs, one stored twice.
    const a = openContentPacks(dir, 'a', { maxBytes: 4000, maxAgeMs: 3600_000 });
    const b = openContentPacks(dir, 'b');
    const contents = Array.from({ length: 20 }, (_, i) => randomBytes(600 + i));
    const digests = contents.map((c, i) => put(i % 2 === 0 ? a : b, c));
    const twice = digests[3] ?? '';
    put(a, contents[3] ?? Buffer.alloc(0));
    await Promise.all([a.flush(), b.flush()]);
    assert.ok((await files('.idx')).length > 2, 'several packs');

    const gone = digests.filter((_, i) => i % 3 !== 0);
    await openContentPacks(dir, 'c').remove([...gone, twice, '0'.repeat(64)]);
    const kept = digests.filter((d) => !gone.includes(d) && d !== twice).sort();
    for (const reader of [a, b, openContentPacks(dir, 'd')]) {
      assert.deepEqual(reader.list().sort(), kept);
      assert.equal(get(reader, twice), undefined);
    }
  });

  it('keeps content stored again after a removal: the removal names the earlier place only', async () => {
    const writer = openContentPacks(dir, 'a');
    const content = randomBytes(800);
    const digest = put(writer, content);
    await writer.flush();
    await openContentPacks(dir, 'b').remove([digest]);
    // Stored again (a new upload of the same bytes), then the old removal is read.
    put(writer, content);
    await writer.flush();
    assert.ok(get(openContentPacks(dir, 'c'), digest)?.equals(content));
  });

  it('ignores a log record torn by a crash, and a partly written one at the end', async () => {
    const writer = openContentPacks(dir, 'a');
    const content = randomBytes(300);
    const digest = put(writer, content);
    await writer.flush();
    const [log] = await files('.idx');
    assert.ok(log !== undefined);
    const torn = randomBytes(64);
    await appendFile(join(dir, log), Buffer.concat([torn, randomBytes(20)]));

    const reader = openContentPacks(dir, 'b');
    assert.deepEqual(reader.list(), [digest]);
    assert.ok(get(reader, digest)?.equals(content));
  });

  it('compacts sealed packs that are mostly removed: live contents move, the files go', async () => {
    const writer = openContentPacks(dir, 'a', { maxBytes: 4000, maxAgeMs: 3600_000 });
    const contents = Array.from({ length: 12 }, () => randomBytes(1000));
    const digests = contents.map((c) => put(writer, c));
    await writer.flush();
    const reader = openContentPacks(dir, 'b');
    assert.ok(get(reader, digests[0] ?? '') !== undefined); // opens the first pack to read
    const packsBefore = await files('.pack');
    assert.ok(packsBefore.length >= 3, `several packs: ${packsBefore.join(' ')}`);

    const gone = digests.filter((_, i) => i % 4 !== 0);
    for (const digest of gone) {
      await writer.remove([digest]);
    }
    await openContentPacks(dir, 'gc').compact();

    const packsAfter = await files('.pack');
    assert.ok(
      packsBefore.some((name) => !packsAfter.includes(name)),
      'a sealed pack was compacted',
    );
    const kept = digests.filter((_, i) => i % 4 === 0);
    assert.deepEqual(openContentPacks(dir, 'c').list().sort(), [...kept].sort());
    for (const digest of kept) {
      const content = contents[digests.indexOf(digest)];
      // The reader knew the old places: it finds the new ones.
      assert.ok(get(reader, digest)?.equals(content ?? Buffer.alloc(0)), digest);
      assert.ok(get(writer, digest)?.equals(content ?? Buffer.alloc(0)), digest);
    }
    const bytes = await Promise.all(
      packsAfter.map(async (name) => (await stat(join(dir, name))).size),
    );
    assert.ok(
      bytes.reduce((a, b) => a + b, 0) < 12 * 1000,
      `space given back: ${bytes.join(' + ')} bytes`,
    );
  });

  it('leaves a pack its writer still adds to, and compacts one left by a writer that stopped', async () => {
    const writer = openContentPacks(dir, 'a');
    const gone = put(writer, randomBytes(1000));
    const kept = put(writer, randomBytes(10));
    await writer.flush();
    await writer.remove([gone]);

    await openContentPacks(dir, 'gc').compact();
    assert.equal((await files('.pack')).length, 1, 'the writer is still adding to it');
    // Unsealed but untouched for longer than the limit: its writer stopped.
    await openContentPacks(dir, 'gc2').compact({ staleMs: -1 });
    const left = await files('.pack');
    assert.equal(left.length, 1);
    assert.ok(!left[0]?.includes('-a-'), `moved to the compacting process's pack: ${left[0]}`);
    assert.deepEqual(openContentPacks(dir, 'c').list(), [kept]);
  });
});
