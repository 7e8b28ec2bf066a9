import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Token } from '../../src/protocol/tokens.schema.ts';
import { buildDeb } from '../helpers/debs.ts';
import { failed, parsed, startFarm, succeeded, type Farm } from '../helpers/farm.ts';

describe('kiln CLI against `kiln up`', () => {
  let farm: Farm;
  before(async () => {
    farm = await startFarm();
  });
  after(async () => {
    await farm.close();
  });

  it('is logged in by `up`, which saved the token in XDG_CONFIG_HOME', async () => {
    const path = join(farm.configHome('admin'), 'kiln', 'credentials.json');
    const saved = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(saved.current, farm.url);
    assert.equal(saved.servers[farm.url].token, farm.adminToken);
    assert.equal((await stat(path)).mode & 0o077, 0, 'only its owner may read it');

    assert.match(
      succeeded(await farm.kiln(['whoami'])),
      new RegExp(`^admin \\(admin\\) on ${farm.url}`),
    );
    const me = parsed(await farm.kiln(['--json', 'whoami']));
    assert.equal(me.user.username, 'admin');
    assert.deepEqual([...me.scopes].sort(), ['admin', 'read', 'write']);
  });

  it('creates, lists, shows, changes and deletes workspaces', async () => {
    assert.equal(
      succeeded(await farm.kiln(['workspace', 'create', 'proj'])),
      'Workspace proj created (private)\n',
    );
    const pub = parsed(
      await farm.kiln(['workspace', 'create', 'pub', '--public', '--expiration', '30d', '--json']),
    );
    assert.equal(pub.public, true);
    assert.equal(pub.default_expiration, 30 * 86400);

    const list = parsed(await farm.kiln(['workspace', 'list', '--json']));
    assert.deepEqual(
      (list as { name: string; role: string }[]).map((w) => [w.name, w.role]),
      [
        ['demo', 'owner'],
        ['proj', 'owner'],
        ['pub', 'owner'],
      ],
    );
    const table = succeeded(await farm.kiln(['workspace', 'list'])).split('\n');
    assert.match(table[0]!, /^NAME\s+VISIBILITY\s+ROLE\s+EXPIRATION$/);
    assert.match(table[2]!, /^proj\s+private\s+owner\s+never$/);

    const shown = parsed(await farm.kiln(['workspace', 'show', 'proj', '--json']));
    assert.equal(shown.public, false);
    const set = succeeded(
      await farm.kiln(['workspace', 'set', 'proj', '--public', '--expiration', '12h']),
    );
    assert.match(set, /visibility: +public/);
    assert.match(set, /expiration: +43200s/);
    const back = parsed(
      await farm.kiln(['workspace', 'set', 'proj', '--private', '--expiration', 'never', '--json']),
    );
    assert.equal(back.public, false);
    assert.equal(back.default_expiration, null);

    assert.equal(
      succeeded(await farm.kiln(['workspace', 'delete', 'pub'])),
      'Workspace pub deleted\n',
    );
    failed(
      await farm.kiln(['workspace', 'show', 'pub']),
      1,
      /workspace pub not found \(not_found\)/,
    );
  });

  it('creates a user, who logs in with a password from standard input', async () => {
    assert.equal(
      succeeded(
        await farm.kiln(['user', 'create', 'bob', '--role', 'developer', '--password-stdin'], {
          input: 'bob-password-1\n',
        }),
      ),
      'User bob created (developer)\n',
    );
    const users = parsed(await farm.kiln(['user', 'list', '--json']));
    assert.deepEqual(
      (users as { username: string; has_password: boolean }[]).map((u) => [
        u.username,
        u.has_password,
      ]),
      [
        ['admin', false],
        ['bob', true],
      ],
    );
    failed(
      await farm.kiln(['login', farm.url, '-u', 'bob', '--password-stdin'], {
        as: 'bob',
        input: 'not-the-password\n',
      }),
      1,
      /\(invalid_credentials\)$/m,
    );
    const login = succeeded(
      await farm.kiln(['login', farm.url, '-u', 'bob', '--password-stdin'], {
        as: 'bob',
        input: 'bob-password-1\n',
      }),
    );
    assert.match(login, new RegExp(`^Logged in to ${farm.url} as bob`));
    assert.equal(parsed(await farm.kiln(['whoami', '--json'], { as: 'bob' })).user.username, 'bob');
    // The admin's own login is untouched.
    assert.equal(parsed(await farm.kiln(['whoami', '--json'])).user.username, 'admin');
  });

  it('adds, lists and removes members', async () => {
    assert.equal(
      succeeded(await farm.kiln(['member', 'add', 'proj', 'bob', '--role', 'writer'])),
      'bob is writer of proj\n',
    );
    const members = parsed(await farm.kiln(['member', 'list', 'proj', '--json']));
    assert.deepEqual(
      (members as { username: string; role: string }[]).map((m) => [m.username, m.role]),
      [
        ['admin', 'owner'],
        ['bob', 'writer'],
      ],
    );
    const seen = parsed(await farm.kiln(['workspace', 'list', '--json'], { as: 'bob' }));
    assert.deepEqual(
      (seen as { name: string; role: string }[]).map((w) => [w.name, w.role]),
      [['proj', 'writer']],
    );
    assert.equal(
      succeeded(await farm.kiln(['member', 'remove', 'proj', 'bob'])),
      'bob removed from proj\n',
    );
    assert.equal(parsed(await farm.kiln(['member', 'list', 'proj', '--json'])).length, 1);
    failed(await farm.kiln(['workspace', 'show', 'proj'], { as: 'bob' }), 1, /\(not_found\)$/m);
  });

  it('creates, lists and revokes tokens', async () => {
    const created = parsed(
      await farm.kiln(['token', 'create', 'ci', '--scope', 'read', '--expires-in', '1h', '--json']),
    );
    assert.deepEqual(created.scopes, ['read']);
    assert.ok(Math.abs(Date.parse(created.expires_at) - Date.now() - 3600_000) < 120_000);
    const secret: string = created.token;

    const listed = parsed(await farm.kiln(['token', 'list', '--json']));
    const ci: Record<string, unknown> | undefined = (listed as Token[]).find(
      (t) => t.id === created.id,
    );
    assert.ok(ci, 'the new token is listed');
    assert.equal(ci['name'], 'ci');
    assert.equal(ci['revoked'], false);
    assert.equal('token' in ci, false, 'a listed token shows no secret');

    const asCi = parsed(await farm.kiln(['--token', secret, 'whoami', '--json']));
    assert.deepEqual(asCi.scopes, ['read']);
    assert.deepEqual(
      parsed(await farm.kiln(['whoami', '--json'], { env: { KILN_TOKEN: secret } })).scopes,
      ['read'],
    );
    failed(
      await farm.kiln(['--token', secret, 'workspace', 'create', 'nope']),
      1,
      /\(insufficient_scope\)$/m,
    );

    assert.equal(
      succeeded(await farm.kiln(['token', 'revoke', String(created.id)])),
      `Token ${created.id} revoked\n`,
    );
    const after = parsed(await farm.kiln(['token', 'list', '--json']));
    assert.equal((after as Token[]).find((t) => t.id === created.id)?.revoked, true);
    failed(await farm.kiln(['--token', secret, 'whoami']), 1, /\(unauthenticated\)$/m);
  });

  describe('artifacts', () => {
    let source: string;
    let id: number;
    const expected = new Map<string, Buffer>();

    before(async () => {
      source = join(farm.root, 'source');
      const files: [string, Buffer][] = [
        ['hello.txt', Buffer.from('hello, kiln\n')],
        ['tree/a.bin', randomBytes(300 * 1024 + 7)],
        ['tree/sub/deep/b.txt', Buffer.from('deep inside\n')],
        ['renamed.dat', randomBytes(4096)],
      ];
      for (const [path, content] of files) {
        await mkdir(join(source, path, '..'), { recursive: true });
        await writeFile(join(source, path), content);
      }
      expected.set('hello.txt', files[0]![1]);
      expected.set('a.bin', files[1]![1]);
      expected.set('sub/deep/b.txt', files[2]![1]);
      expected.set('docs/readme.md', files[3]![1]);
    });

    it('creates one from a file, a directory and NAME=PATH, and shows it', async () => {
      const created = parsed(
        await farm.kiln(
          [
            'artifact',
            'create',
            'proj',
            '--type',
            'example',
            '--data',
            '{"k":1}',
            'hello.txt',
            'tree/',
            'docs/readme.md=renamed.dat',
            '--json',
          ],
          { cwd: source },
        ),
      );
      id = created.id;
      assert.equal(created.workspace, 'proj');
      assert.equal(created.type, 'example');
      assert.deepEqual(created.data, { k: 1 });
      assert.deepEqual(
        (created.files as { path: string; size: number; complete: boolean }[]).map((f) => [
          f.path,
          f.size,
          f.complete,
        ]),
        [...expected].sort(([a], [b]) => a.localeCompare(b)).map(([p, c]) => [p, c.length, true]),
      );

      const shown = succeeded(await farm.kiln(['artifact', 'show', String(id)]));
      assert.match(shown, new RegExp(`^id: +${id}$`, 'm'));
      assert.match(shown, /^type: +example$/m);
      assert.match(shown, /^ {2}sub\/deep\/b\.txt\s+12 B\s+[0-9a-f]{16}\s+yes$/m);
      assert.deepEqual(
        parsed(await farm.kiln(['artifact', 'show', String(id), '--json'])),
        created,
      );
    });

    it('downloads byte-identical files under their nested paths', async () => {
      const out = join(farm.root, 'out');
      const written = succeeded(await farm.kiln(['artifact', 'download', String(id), '-o', out]));
      assert.equal(written.trim().split('\n').length, expected.size);
      for (const [path, content] of expected) {
        const got = await readFile(join(out, ...path.split('/')));
        assert.ok(got.equals(content), `${path} is byte-identical`);
      }
      const one = join(farm.root, 'one');
      succeeded(
        await farm.kiln(['artifact', 'download', String(id), '-o', one, '--file', 'a.bin']),
      );
      assert.ok((await readFile(join(one, 'a.bin'))).equals(expected.get('a.bin')!));
      await assert.rejects(stat(join(one, 'hello.txt')), { code: 'ENOENT' });
    });

    it('relates and unrelates, sets data, and refuses changes once immutable', async () => {
      const other = parsed(
        await farm.kiln(['artifact', 'create', 'proj', '--type', 't', '--json']),
      );
      const target = String(id);
      const otherId = String(other.id);
      succeeded(await farm.kiln(['artifact', 'relate', otherId, 'built-using', target]));
      assert.deepEqual(parsed(await farm.kiln(['artifact', 'show', otherId, '--json'])).relations, [
        { type: 'built-using', target: id },
      ]);
      failed(
        await farm.kiln(['artifact', 'relate', otherId, 'inspired-by', target]),
        1,
        /"inspired-by" is not a relation type.*\(invalid_relation_type\)$/m,
      );
      succeeded(await farm.kiln(['artifact', 'unrelate', otherId, 'built-using', target]));
      assert.deepEqual(
        parsed(await farm.kiln(['artifact', 'show', otherId, '--json'])).relations,
        [],
      );

      const changed = parsed(
        await farm.kiln(['artifact', 'set-data', otherId, '{"x":[1,2]}', '--json']),
      );
      assert.deepEqual(changed.data, { x: [1, 2] });
      assert.equal(
        succeeded(await farm.kiln(['artifact', 'immutable', otherId])),
        `Artifact ${otherId} is immutable\n`,
      );
      failed(
        await farm.kiln(['artifact', 'set-data', otherId, '{"y":1}']),
        1,
        /\(artifact_immutable\)$/m,
      );
      failed(
        await farm.kiln(['artifact', 'relate', otherId, 'relates-to', target]),
        1,
        /\(artifact_immutable\)$/m,
      );
      const kept = parsed(await farm.kiln(['artifact', 'show', otherId, '--json']));
      assert.deepEqual(kept.data, { x: [1, 2] });
      assert.equal(kept.immutable, true);
    });
  });

  describe('errors', () => {
    it('are one line on stderr and a non-zero exit', async () => {
      failed(
        await farm.kiln(['workspace', 'show', 'nowhere']),
        1,
        /^kiln: workspace nowhere not found/,
      );
      failed(
        await farm.kiln(['artifact', 'create', 'nowhere', '--type', 't', '--json']),
        1,
        /\(not_found\)$/m,
      );
      failed(
        await farm.kiln(['--server', 'http://127.0.0.1:1', 'workspace', 'list']),
        1,
        /^kiln: cannot reach http:\/\/127\.0\.0\.1:1/,
      );
    });

    it('say so when no server is configured', async () => {
      const result = await farm.kiln(['workspace', 'list'], { as: 'nobody' });
      assert.notEqual(result.code, 0);
      failed(result, result.code ?? -1, /^kiln: no server/);
    });

    it('exit 2 on a usage error', async () => {
      const missing = await farm.kiln(['workspace', 'create']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /missing required argument 'name'/);
      assert.equal((await farm.kiln(['frobnicate'])).code, 2);
      failed(
        await farm.kiln(['artifact', 'show', 'abc']),
        2,
        /^kiln: "abc" is not an artifact id$/m,
      );
    });
  });

  it('registers a workflow template, runs it with progress, lists and shows runs', async () => {
    const steps = JSON.stringify([
      { name: 'greet', command: 'echo hello' },
      { name: 'after', command: 'true', depends_on: ['greet'] },
    ]);
    assert.match(
      succeeded(
        await farm.kiln([
          'workflow',
          'register',
          'demo',
          'greet',
          '--workflow',
          'pipeline',
          '--param',
          `steps=${steps}`,
        ]),
      ),
      /^Registered greet \(pipeline\) in demo/,
    );
    assert.match(succeeded(await farm.kiln(['workflow', 'list', 'demo'])), /^greet\s+pipeline\s/m);
    const started = await farm.kiln(['run', 'start', 'demo', 'greet']);
    const out = succeeded(started);
    assert.match(out, /^run (\d+) \(greet, pipeline\): completed \(success\)$/m);
    assert.match(
      started.stderr,
      /\[2\/2\] after — task \d+: completed \(success\)/,
      'progress as tasks end',
    );
    const runs = parsed(await farm.kiln(['run', 'list', 'demo', '--json']));
    assert.equal(runs.items[0].result, 'success');
    const shown = parsed(await farm.kiln(['run', 'show', String(runs.items[0].id), '--json']));
    assert.deepEqual(
      (shown.tasks as { step: string }[]).map((t) => t.step),
      ['greet', 'after'],
    );
    failed(
      await farm.kiln(['run', 'start', 'demo', 'greet', '--param', 'steps=[]']),
      1,
      /^kiln: template greet fixes steps: a run cannot change it \(invalid_workflow_parameters\)$/m,
    );
    failed(await farm.kiln(['run', 'show', 'x']), 2, /^kiln: "x" is not a run id$/m);
  });

  it('creates a repository, adds, removes and rolls back packages with `kiln repo`', async () => {
    const debs = join(farm.root, 'repo-debs');
    const first = await buildDeb(debs, { name: 'clitool', version: '1.0', architecture: 'amd64' });
    const second = await buildDeb(debs, { name: 'clitool', version: '1.1', architecture: 'amd64' });
    assert.match(
      succeeded(await farm.kiln(['repo', 'create', 'demo', 'cli', '--suite', 'bookworm:stable'])),
      /cli/,
    );
    // With --json the task's log goes to stderr: stdout is the task, as JSON only.
    const added = await farm.kiln([
      '--json',
      'repo',
      'add',
      'demo',
      'cli',
      first,
      '--suite',
      'bookworm',
    ]);
    const task = parsed(added);
    assert.equal(task.state, 'completed');
    assert.equal(task.result, 'success');
    assert.match(added.stderr, /added clitool 1\.0/);
    assert.match(
      succeeded(await farm.kiln(['repo', 'add', 'demo', 'cli', second, '--suite', 'bookworm'])),
      /^Published \(publication \d+\)$/m,
    );
    const packages = parsed(await farm.kiln(['--json', 'repo', 'packages', 'demo', 'cli']));
    assert.deepEqual(
      (packages as { package: string; version: string }[]).map((p) => [p.package, p.version]),
      [['clitool', '1.1']],
    );
    const history = parsed(await farm.kiln(['--json', 'repo', 'history', 'demo', 'cli']));
    const numbers = (history as { number: number; current: boolean }[]).map((p) => p.number);
    assert.equal(history[0].current, true);
    // Serve what the publication with 1.0 served, then take the package out.
    const withFirst = numbers[1] ?? 0;
    assert.match(
      succeeded(await farm.kiln(['repo', 'rollback', 'demo', 'cli', String(withFirst)])),
      new RegExp(`serves what publication ${withFirst} served`),
    );
    const served = await fetch(
      `${farm.url}/repos/demo/cli/dists/bookworm/main/binary-amd64/Packages`,
      {
        headers: { authorization: `Bearer ${farm.adminToken}` },
      },
    );
    assert.equal(served.status, 200);
    assert.match(await served.text(), /^Version: 1\.0$/m);
    assert.match(
      succeeded(
        await farm.kiln(['repo', 'remove', 'demo', 'cli', 'clitool', '--suite', 'bookworm']),
      ),
      /clitool/,
    );
    assert.deepEqual(parsed(await farm.kiln(['--json', 'repo', 'packages', 'demo', 'cli'])), []);
    failed(await farm.kiln(['repo', 'add', 'demo', 'cli', first, '--suite', 'sid']), 1, /sid/);
  });

  it('stops cleanly on SIGTERM', async () => {
    assert.deepEqual(await farm.process.stop('SIGTERM'), { code: 0, signal: null });
    await assert.rejects(fetch(`${farm.url}/api/v1/health`));
  });
});
