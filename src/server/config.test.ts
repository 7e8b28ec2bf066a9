import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseServerConfig, parseSize } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'kiln-config-test-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes a config file and returns its path. */
function configFile(text: string, extension = 'yaml'): string {
  const path = join(dir, `config-${++files}.${extension}`);
  writeFileSync(path, text);
  return path;
}

/** `text` as a pattern that matches it literally. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Asserts that parsing throws a ConfigError whose message matches every pattern. */
function assertConfigError(
  args: readonly string[],
  env: Record<string, string>,
  patterns: readonly RegExp[],
): void {
  assert.throws(
    () => parseServerConfig(args, env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      for (const pattern of patterns) {
        assert.match(error.message, pattern);
      }
      assert.doesNotMatch(error.message, /\n/, 'a start-up error is one line');
      return true;
    },
  );
}

describe('parseServerConfig', () => {
  it('defaults every setting', () => {
    const config = parseServerConfig([], {});
    assert.deepEqual(
      { ...config },
      {
        dataDir: resolve('.kiln'),
        databaseUrl: undefined,
        host: '127.0.0.1',
        port: 8470,
        publicUrl: 'http://127.0.0.1:8470',
        maxFileSize: 64 * 1024 ** 3,
        maxJsonSize: 4 * 1024 ** 2,
        gcInterval: 3600,
        logLevel: 'info',
        leaseTimeout: 30,
        serverTaskSlots: 2,
        signingPassphrase: undefined,
        webhookRetryBase: 10,
      },
    );
  });

  it('reads every setting from flags, from KILN_* and from a config file', () => {
    const expected = {
      dataDir: '/srv/kiln',
      databaseUrl: 'postgres://kiln@db.example.org/kiln',
      host: '0.0.0.0',
      port: 9000,
      publicUrl: 'https://kiln.example.org',
      maxFileSize: 2 * 1024 ** 3,
      maxJsonSize: 512 * 1024,
      gcInterval: 60,
      logLevel: 'debug',
      leaseTimeout: 12,
      serverTaskSlots: 4,
      signingPassphrase: 'correct horse battery staple',
      webhookRetryBase: 30,
    };
    const raw = {
      data: '/srv/kiln',
      database: 'postgres://kiln@db.example.org/kiln',
      host: '0.0.0.0',
      port: '9000',
      'public-url': 'https://kiln.example.org/',
      'max-file-size': '2G',
      'max-json-size': '512k',
      'gc-interval': '60',
      'log-level': 'debug',
      'lease-timeout': '12',
      'server-task-slots': '4',
      'signing-passphrase': 'correct horse battery staple',
      'webhook-retry': '30',
    };
    const flags = Object.entries(raw).flatMap(([flag, value]) => [`--${flag}`, value]);
    assert.deepEqual({ ...parseServerConfig(flags, {}) }, expected);

    const env = Object.fromEntries(
      Object.entries(raw).map(([flag, value]) => [
        flag === 'database' ? 'KILN_DATABASE_URL' : `KILN_${flag.toUpperCase().replace(/-/g, '_')}`,
        value,
      ]),
    );
    assert.deepEqual({ ...parseServerConfig([], env) }, expected);

    const yaml = configFile(
      Object.entries(raw)
        .map(([key, value]) => `${key}: ${key === 'port' ? value : JSON.stringify(value)}`)
        .join('\n'),
    );
    assert.deepEqual({ ...parseServerConfig(['--config', yaml], {}) }, expected);

    // JSON, with numbers as numbers; found through KILN_CONFIG.
    const json = configFile(
      JSON.stringify({ ...raw, port: 9000, 'gc-interval': 60, 'lease-timeout': 12 }),
      'json',
    );
    assert.deepEqual({ ...parseServerConfig([], { KILN_CONFIG: json }) }, expected);
  });

  it('takes flags over KILN_* over the config file over the defaults', () => {
    const file = configFile('port: 1003\nlog-level: warn\nhost: file.example\n');
    const at = (args: string[], env: Record<string, string>) => {
      const c = parseServerConfig(['--config', file, ...args], env);
      return [c.port, c.logLevel, c.host, c.gcInterval];
    };
    const env = { KILN_PORT: '1002', KILN_LOG_LEVEL: 'error' };
    assert.deepEqual(at(['--port', '1001'], env), [1001, 'error', 'file.example', 3600]);
    assert.deepEqual(at([], env), [1002, 'error', 'file.example', 3600]);
    assert.deepEqual(at([], {}), [1003, 'warn', 'file.example', 3600]);
    assert.equal(parseServerConfig([], {}).port, 8470);
  });

  it('takes --config over KILN_CONFIG', () => {
    const flagFile = configFile('port: 2001\n');
    const envFile = configFile('port: 2002\n');
    assert.equal(parseServerConfig(['--config', flagFile], { KILN_CONFIG: envFile }).port, 2001);
  });

  it('derives the public URL from host and port, and keeps an explicit one', () => {
    assert.equal(
      parseServerConfig(['--host', '::1', '--port', '81'], {}).publicUrl,
      'http://[::1]:81',
    );
    assert.equal(
      parseServerConfig(['--port', '81'], { KILN_PUBLIC_URL: 'https://x.example/kiln/' }).publicUrl,
      'https://x.example/kiln',
    );
  });

  it('returns a frozen object', () => {
    const config = parseServerConfig(['--port', '1234'], {});
    assert.ok(Object.isFrozen(config));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
    assert.equal(config.port, 1234);
  });

  describe('refuses a bad value, naming the setting and where it came from', () => {
    it('port "abc" and 70000', () => {
      assertConfigError(['--port', 'abc'], {}, [/^--port: /, /"abc"/]);
      assertConfigError([], { KILN_PORT: '70000' }, [/^KILN_PORT: /, /"70000"/, /65535/]);
      const file = configFile('port: abc\n');
      assertConfigError(['--config', file], {}, [new RegExp(`^${literal(file)}: port: "abc"`)]);
    });

    it('size "12Q"', () => {
      assertConfigError(['--max-file-size', '12Q'], {}, [/^--max-file-size: "12Q"/]);
      assertConfigError([], { KILN_MAX_JSON_SIZE: '12Q' }, [/^KILN_MAX_JSON_SIZE: "12Q"/]);
    });

    it('database "mysql://x"', () => {
      assertConfigError(['--database', 'mysql://x'], {}, [/^--database: "mysql:\/\/x"/]);
      assertConfigError([], { KILN_DATABASE_URL: 'mysql://x' }, [/^KILN_DATABASE_URL: /]);
      assertConfigError(['--database', 'not a url'], {}, [/^--database: "not a url"/]);
    });

    it('log level "loud"', () => {
      const file = configFile('{"log-level": "loud"}', 'json');
      assertConfigError(['--config', file], {}, [
        new RegExp(`^${literal(file)}: log-level: "loud"`),
        /info/,
      ]);
      assertConfigError(['--log-level', 'loud'], {}, [/^--log-level: "loud"/]);
    });

    it('a value of the wrong type in the config file', () => {
      const file = configFile('port: [1, 2]\n');
      assertConfigError(['--config', file], {}, [new RegExp(`^${literal(file)}: port: `)]);
    });

    it('an unknown config-file key', () => {
      const file = configFile('port: 1\nlisten: 0.0.0.0\n');
      assertConfigError(['--config', file], {}, [new RegExp(literal(file)), /"listen"/]);
    });

    it('an unknown flag, a flag without its value and a stray argument', () => {
      assertConfigError(['--bogus', '1'], {}, [/--bogus/]);
      assertConfigError(['--port'], {}, [/--port/]);
      assertConfigError(['serve'], {}, [/'serve'/]);
    });

    it('a config file that cannot be read, or is not YAML or JSON', () => {
      const missing = join(dir, 'missing.yaml');
      assertConfigError(['--config', missing], {}, [
        new RegExp(`^--config: .*${literal(missing)}`),
      ]);
      assertConfigError([], { KILN_CONFIG: dir }, [new RegExp(`^KILN_CONFIG: .*${literal(dir)}`)]);
      const broken = configFile('port: [1,\nhost: x\n');
      assertConfigError(['--config', broken], {}, [new RegExp(`${literal(broken)}: .*line 2`)]);
      const list = configFile('- port\n');
      assertConfigError(['--config', list], {}, [
        new RegExp(`${literal(list)}: expected a mapping`),
      ]);
    });

    it('a value out of range elsewhere', () => {
      assertConfigError(['--gc-interval', '0'], {}, [/^--gc-interval: "0"/]);
      assertConfigError(['--public-url', 'ftp://x'], {}, [/^--public-url: "ftp:\/\/x"/]);
      assertConfigError(['--host', ''], {}, [/^--host: ""/]);
      assertConfigError([], { KILN_SIGNING_PASSPHRASE: '' }, [
        /^KILN_SIGNING_PASSPHRASE: "" is empty/,
      ]);
    });
  });
});

describe('parseSize', () => {
  it('reads bytes and binary units', () => {
    assert.equal(parseSize('1048576'), 1048576);
    assert.equal(parseSize('512k'), 512 * 1024);
    assert.equal(parseSize('10M'), 10 * 1024 ** 2);
    assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
    assert.equal(parseSize('1t'), 1024 ** 4);
  });

  it('refuses what is not a size', () => {
    for (const text of ['12Q', '', '0', '-1', '1.5G', 'G']) {
      assert.throws(() => parseSize(text), /is not a size/, text);
    }
  });
});

describe('kiln serve', () => {
  it('exits non-zero with one line naming --port when the port is "abc"', () => {
    const bin = fileURLToPath(new URL('../../bin/kiln', import.meta.url));
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith('KILN_')),
    );
    const result = spawnSync(bin, ['serve', '--port', 'abc'], { cwd, env, encoding: 'utf8' });
    assert.notEqual(result.status, 0);
    assert.notEqual(result.status, null, `killed by ${String(result.signal)}`);
    const lines = result.stderr.split('\n').filter((line) => line.length > 0);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /--port/);
    assert.match(lines[0]!, /"abc"/);
    assert.equal(result.stdout, '');
    assert.equal(existsSync(join(cwd, '.kiln')), false, 'a refused start creates no data');
  });
});
