import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';

/** The server's configuration: parsed once at start, fully defaulted, frozen. */
export interface ServerConfig {
  /** Directory holding the embedded database and the file store. */
  readonly dataDir: string;
  /** PostgreSQL URL; `undefined` means the embedded PGlite database in `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly host: string;
  readonly port: number;
  /** The URL clients use to reach this server (printed, and used in links). */
  readonly publicUrl: string;
  /** Largest artifact file accepted, in bytes. */
  readonly maxFileSize: number;
  /** Largest JSON request body accepted, in bytes. */
  readonly maxJsonSize: number;
  /** Seconds between garbage collections of expired artifacts and unused files. */
  readonly gcInterval: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Seconds a task's lease lasts without a heartbeat from its worker. */
  readonly leaseTimeout: number;
  /** Server-side tasks this server runs at once. */
  readonly serverTaskSlots: number;
  /**
   * Protects the signer's private keys at rest. `undefined`: the one in
   * `<dataDir>/signer.passphrase`, made on first start. Servers that share a
   * database must share the passphrase. Other users of the host can read a
   * command line: prefer the environment or the config file.
   */
  readonly signingPassphrase: string | undefined;
  /**
   * Seconds before an outbound webhook delivery that failed is tried again;
   * each further try waits twice as long (up to an hour).
   */
  readonly webhookRetryBase: number;
}

/** A setting: its flag, its environment variable, its config-file key and its parser. */
interface Setting<K extends keyof ServerConfig> {
  readonly key: K;
  readonly flag: string;
  readonly env: string;
  readonly parse: (raw: string) => ServerConfig[K];
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const settings = [
  setting('dataDir', 'data', 'KILN_DATA', (raw) => resolve(raw)),
  setting('databaseUrl', 'database', 'KILN_DATABASE_URL', parseDatabaseUrl),
  setting('host', 'host', 'KILN_HOST', (raw) => {
    if (raw.length === 0) {
      throw new Error('is empty');
    }
    return raw;
  }),
  setting('port', 'port', 'KILN_PORT', (raw) => parseInteger(raw, 0, 65535)),
  setting('publicUrl', 'public-url', 'KILN_PUBLIC_URL', (raw) => {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error('is not an http(s) URL');
    }
    return url.href.replace(/\/$/, '');
  }),
  setting('maxFileSize', 'max-file-size', 'KILN_MAX_FILE_SIZE', parseSize),
  setting('maxJsonSize', 'max-json-size', 'KILN_MAX_JSON_SIZE', parseSize),
  setting('gcInterval', 'gc-interval', 'KILN_GC_INTERVAL', (raw) =>
    parseInteger(raw, 1, 86400 * 7),
  ),
  setting('leaseTimeout', 'lease-timeout', 'KILN_LEASE_TIMEOUT', (raw) =>
    parseInteger(raw, 2, 3600),
  ),
  setting('serverTaskSlots', 'server-task-slots', 'KILN_SERVER_TASK_SLOTS', (raw) =>
    parseInteger(raw, 0, 64),
  ),
  setting('signingPassphrase', 'signing-passphrase', 'KILN_SIGNING_PASSPHRASE', (raw) => {
    if (raw.length === 0) {
      throw new Error('is empty');
    }
    return raw;
  }),
  setting('webhookRetryBase', 'webhook-retry', 'KILN_WEBHOOK_RETRY', (raw) =>
    parseInteger(raw, 1, 3600),
  ),
  setting('logLevel', 'log-level', 'KILN_LOG_LEVEL', (raw) => {
    const level = logLevels.find((l) => l === raw);
    if (level === undefined) {
      throw new Error(`is not one of ${logLevels.join(', ')}`);
    }
    return level;
  }),
] as const;

function setting<K extends keyof ServerConfig>(
  key: K,
  flag: string,
  env: string,
  parse: (raw: string) => ServerConfig[K],
): Setting<K> {
  return { key, flag, env, parse };
}

const defaults = {
  dataDir: resolve('.kiln'),
  databaseUrl: undefined,
  host: '127.0.0.1',
  port: 8470,
  maxFileSize: 64 * 1024 ** 3,
  maxJsonSize: 4 * 1024 ** 2,
  gcInterval: 3600,
  logLevel: 'info',
  leaseTimeout: 30,
  serverTaskSlots: 2,
  signingPassphrase: undefined,
  webhookRetryBase: 10,
} as const satisfies Omit<ServerConfig, 'publicUrl'>;

/** Usage text for the server's options. */
export const serverOptionsHelp = settings
  .map((s) => `  --${s.flag.padEnd(14)} ${s.env}`)
  .concat(['  --config FILE    KILN_CONFIG (YAML or JSON, keys as the flags)'])
  .join('\n');

/**
 * Parses the server's configuration from command-line `args`, the environment
 * and an optional config file (`--config` or `KILN_CONFIG`), in that order of
 * precedence. Throws `ConfigError` naming the setting and its source.
 */
export function parseServerConfig(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const { values } = parseFlags(args);
  const configPath = values.config ?? env['KILN_CONFIG'];
  const configSource = values.config === undefined ? 'KILN_CONFIG' : '--config';
  const file = configPath === undefined ? {} : readConfigFile(configPath, configSource);
  const config: Record<string, unknown> = { ...defaults, ...overrides };
  for (const s of settings) {
    const sources: [string, unknown][] = [
      [`--${s.flag}`, values[s.flag]],
      [s.env, env[s.env]],
      [`${configPath ?? ''}: ${s.flag}`, file[s.flag]],
    ];
    const found = sources.find(([, raw]) => raw !== undefined);
    if (found !== undefined) {
      const [source, raw] = found;
      config[s.key] = parseSetting(s, source, raw);
    }
  }
  config['publicUrl'] ??=
    `http://${formatHost(config['host'] as string)}:${config['port'] as number}`;
  return Object.freeze(config as unknown as ServerConfig);
}

function parseFlags(args: readonly string[]) {
  const options = Object.fromEntries([
    ...settings.map((s) => [s.flag, { type: 'string' as const }]),
    ['config', { type: 'string' as const }],
  ]) as Record<string, { type: 'string' }>;
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

function parseSetting<K extends keyof ServerConfig>(
  s: Setting<K>,
  source: string,
  raw: unknown,
): ServerConfig[K] {
  const text = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw;
  if (typeof text !== 'string') {
    throw new ConfigError(`${source}: expected a string or number`);
  }
  try {
    return s.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: ${JSON.stringify(text)} ${(error as Error).message}`);
  }
}

function readConfigFile(path: string, source: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${source}: cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    // The yaml package appends a multi-line excerpt of the file; the first line
    // says what and where (line, column), and start-up errors are one line.
    const [reason] = (error as Error).message.split('\n');
    throw new ConfigError(`config file ${path}: ${reason ?? 'not YAML or JSON'}`);
  }
  if (parsed === null || parsed === undefined) {
    return {};
  }
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: expected a mapping of settings`);
  }
  const known = new Set(settings.map((s) => s.flag));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) {
      throw new ConfigError(`config file ${path}: unknown setting ${JSON.stringify(key)}`);
    }
  }
  return parsed as Record<string, unknown>;
}

function parseDatabaseUrl(raw: string): string {
  const url = new URL(raw);
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error('is not a postgres:// URL');
  }
  return raw;
}

function parseInteger(raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new Error(`is not an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

const sizeUnits: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** Parses a byte size: `1048576`, `512k`, `10M`, `2GiB`. */
export function parseSize(raw: string): number {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(raw.trim());
  const unit = sizeUnits[(match?.[2] ?? '').toLowerCase()];
  if (match?.[1] === undefined || unit === undefined || Number(match[1]) === 0) {
    throw new Error('is not a size such as 1048576, 512k, 10M or 2G');
  }
  return Number(match[1]) * unit;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
