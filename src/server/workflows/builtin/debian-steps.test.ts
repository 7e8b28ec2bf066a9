import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binaryBuilds, nextBinNmuSuffix } from './debian-steps.ts';
import { buildDependencyNames } from './rebuild-reverse-deps.ts';

const archs = (builds: ReturnType<typeof binaryBuilds>) =>
  builds.map((b) => `${b.architecture}${b.archAny ? '+any' : ''}${b.archAll ? '+all' : ''}`);

describe('binary builds of a source', () => {
  it("is the package's Architecture field ∩ the suite's architectures", () => {
    assert.deepEqual(archs(binaryBuilds('any', ['amd64', 'arm64'], undefined)), [
      'amd64+any',
      'arm64+any',
    ]);
    assert.deepEqual(archs(binaryBuilds('arm64 riscv64', ['amd64', 'arm64'], undefined)), [
      'arm64+any',
    ]);
    assert.deepEqual(archs(binaryBuilds('linux-any', ['amd64', 'arm64'], ['arm64'])), [
      'arm64+any',
    ]);
  });

  it('builds Architecture: all once, on amd64 when there is one', () => {
    assert.deepEqual(archs(binaryBuilds('any all', ['arm64', 'amd64'], undefined)), [
      'arm64+any',
      'amd64+any+all',
    ]);
    assert.deepEqual(archs(binaryBuilds('all', ['arm64', 'amd64'], undefined)), ['amd64+all']);
    assert.deepEqual(archs(binaryBuilds('all', ['arm64'], undefined)), ['arm64+all']);
    assert.deepEqual(archs(binaryBuilds('amd64', ['arm64'], undefined)), []);
  });
});

describe('BinNMU suffixes and build-dependencies', () => {
  it('takes the next +bN after those published', () => {
    assert.equal(nextBinNmuSuffix('1.0-1', ['1.0-1']), 1);
    assert.equal(nextBinNmuSuffix('1.0-1', ['1.0-1+b1', '1.0-1+b3', '1.0-1.1+b7']), 4);
  });

  it('reads package names from a Build-Depends field', () => {
    assert.deepEqual(
      buildDependencyNames(
        'debhelper-compat (= 13), libfoo-dev:any [amd64] <!nocheck> | libbar-dev, zlib1g-dev',
      ),
      ['debhelper-compat', 'libfoo-dev', 'libbar-dev', 'zlib1g-dev'],
    );
  });
});
