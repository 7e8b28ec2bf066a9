import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import { makeDebianFixture } from '../helpers/debian-fixture.ts';
import { expectResult, startDebianFarm, type DebianFarm } from '../helpers/debian-farm.ts';
import { describeDebian } from '../helpers/debian-images.ts';

const run = promisify(execFile);

/** ELF e_machine values (System V gABI; <elf.h>). */
const elfMachine = { x86_64: 62, aarch64: 183 } as const;

/** The e_machine of an ELF file: 16 bits at offset 18, in the file's byte order (EI_DATA). */
async function readElfMachine(path: string): Promise<number> {
  const file = await open(path, 'r');
  try {
    const header = Buffer.alloc(20);
    await file.read(header, 0, 20, 0);
    assert.deepEqual([...header.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], `${path} is ELF`);
    return header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  } finally {
    await file.close();
  }
}

/** Unpacks a .deb and returns the path of the program it installs. */
async function unpackProgram(deb: string, name: string): Promise<string> {
  const target = `${deb}.unpacked`;
  await mkdir(target, { recursive: true });
  await run('dpkg-deb', ['-x', deb, target]);
  return join(target, 'usr', 'bin', name);
}

await describeDebian('Debian builds from a local git repository, end to end', () => {
  let farm: DebianFarm;
  let repo: string;
  let commit: string;
  let sourceTask: number;
  let sourceArtifact: number;

  before(async () => {
    farm = await startDebianFarm('deb-builds');
    repo = await makeDebianFixture(join(farm.root, 'hello-kiln'));
    commit = (await run('git', ['rev-parse', 'main'], { cwd: repo })).stdout.trim();
  });
  after(async () => {
    await farm.close();
  });

  it('builds the source package at a ref: a debian:source-package with the .dsc and the tarball', async () => {
    const task = await farm.finished(await farm.submitSource(repo, 'main'));
    const output = await expectResult(farm, task, 'success');
    sourceTask = task.id;
    sourceArtifact = Number(output['artifact']);
    assert.equal(output['source'], 'hello-kiln');
    assert.equal(output['version'], '1.0');
    assert.equal(output['commit'], commit);
    const artifact = await farm.artifact(sourceArtifact);
    assert.equal(artifact.type, 'debian:source-package');
    assert.deepEqual(artifact.files.map((f) => f.path).sort(), [
      'hello-kiln_1.0.dsc',
      'hello-kiln_1.0.tar.xz',
    ]);
    const dsc = await farm.download(sourceArtifact, 'hello-kiln_1.0.dsc');
    await farm.download(sourceArtifact, 'hello-kiln_1.0.tar.xz');
    // dpkg-source checks the tarball against the .dsc's checksums as it unpacks.
    await run('dpkg-source', ['--no-check', '-x', dsc, join(farm.root, 'unpacked')]);
    const { stdout } = await run('dpkg-parsechangelog', ['-S', 'Version'], {
      cwd: join(farm.root, 'unpacked'),
    });
    assert.equal(stdout.trim(), '1.0');
  });

  it('builds amd64 binaries natively in the sandbox: the .deb holds an x86-64 program that runs', async () => {
    const task = await farm.finished(await farm.submitBinary({ task: sourceTask }, 'amd64'));
    const output = await expectResult(farm, task, 'success');
    assert.deepEqual(task.inputs, [sourceArtifact]);
    assert.deepEqual(output['packages'], [
      'hello-kiln-dbgsym_1.0_amd64.deb',
      'hello-kiln_1.0_amd64.deb',
    ]);
    const log = await farm.log(task);
    assert.match(log, /kiln: image bookworm-amd64 /);
    assert.match(log, /dpkg-buildpackage -us -uc -B\n/);
    const binaries = await farm.artifact(Number(output['binary_packages']));
    assert.equal(binaries.type, 'debian:binary-packages');
    assert.deepEqual(binaries.data['architectures'], ['amd64']);
    const deb = await farm.download(binaries.id, 'hello-kiln_1.0_amd64.deb');
    const { stdout: arch } = await run('dpkg-deb', ['-f', deb, 'Architecture']);
    assert.equal(arch.trim(), 'amd64');
    const program = await unpackProgram(deb, 'hello-kiln');
    assert.equal(await readElfMachine(program), elfMachine.x86_64);
    assert.equal((await run(program)).stdout, 'hello from kiln\n');
    const upload = await farm.artifact(Number(output['upload']));
    assert.equal(upload.type, 'debian:upload');
    assert.ok(
      upload.files.some((f) => f.path === 'hello-kiln_1.0_amd64.changes'),
      JSON.stringify(upload.files),
    );
  });

  it('cross-builds arm64 on amd64: the .deb says Architecture: arm64 and holds an aarch64 program', async () => {
    const task = await farm.finished(
      await farm.submitBinary({ artifact: sourceArtifact }, 'arm64'),
    );
    const output = await expectResult(farm, task, 'success');
    assert.deepEqual(output['packages'], [
      'hello-kiln-dbgsym_1.0_arm64.deb',
      'hello-kiln_1.0_arm64.deb',
    ]);
    const log = await farm.log(task);
    assert.match(log, /kiln: image bookworm-amd64\+arm64 /);
    assert.match(log, /--host-arch=arm64/);
    const binaries = Number(output['binary_packages']);
    const deb = await farm.download(binaries, 'hello-kiln_1.0_arm64.deb');
    const { stdout: control } = await run('dpkg-deb', ['-f', deb]);
    assert.match(control, /^Architecture: arm64$/m);
    assert.match(control, /^Depends: .*libc6 \(>= [^)]+\)/m, 'shlibs resolved against arm64 libc');
    const program = await unpackProgram(deb, 'hello-kiln');
    assert.equal(await readElfMachine(program), elfMachine.aarch64);
    const { stdout: described } = await run('file', ['-b', program]);
    assert.match(described, /^ELF 64-bit LSB pie executable, ARM aarch64/);
  });
});
