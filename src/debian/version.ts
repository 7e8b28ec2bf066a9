/**
 * Debian package versions (Debian Policy §5.6.12): `[epoch:]upstream[-revision]`,
 * compared exactly as dpkg compares them (dpkg's lib/dpkg/version.c).
 */

/** A version split into its parts. A version without a revision has revision `''`, which sorts as `0`. */
export interface DebianVersion {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

/** A string that is not a valid Debian version; the message names the problem. */
export class VersionError extends Error {
  override readonly name = 'VersionError';
}

// dpkg keeps epochs in an int.
const maxEpoch = 2 ** 31 - 1;

/**
 * Why `text` is not a valid version under Policy §5.6.12, or `undefined` when it is.
 * Stricter than dpkg in two ways Policy asks for: upstream must start with a
 * digit (dpkg only warns), and may not contain a colon (dpkg still allows one after an epoch).
 */
export function explainBadVersion(text: string): string | undefined {
  return split(text).problem;
}

/** Whether `text` is a valid Debian version (Policy §5.6.12). */
export function isValidVersion(text: string): boolean {
  return split(text).problem === undefined;
}

/** Splits a version into epoch, upstream and revision. Throws `VersionError` when it is not valid. */
export function parseVersion(text: string): DebianVersion {
  const { problem, version } = split(text);
  if (problem !== undefined) {
    throw new VersionError(`invalid version ${JSON.stringify(text.slice(0, 80))}: ${problem}`);
  }
  return version;
}

/**
 * Compares two versions as dpkg does: negative when `a` is older, zero when
 * they are equal (`1.0` equals `0:1.0-0`), positive when `a` is newer.
 * Throws `VersionError` when either is not valid.
 */
export function compareVersions(a: string, b: string): number {
  return compareParsedVersions(parseVersion(a), parseVersion(b));
}

/** `compareVersions` for parsed versions: for sorting many without parsing each again. */
export function compareParsedVersions(a: DebianVersion, b: DebianVersion): number {
  if (a.epoch !== b.epoch) {
    return a.epoch < b.epoch ? -1 : 1;
  }
  return Math.sign(
    compareFragment(a.upstream, b.upstream) || compareFragment(a.revision, b.revision),
  );
}

/** The version as text, with the epoch only when it is not 0. */
export function formatVersion(version: DebianVersion): string {
  const epoch = version.epoch === 0 ? '' : `${version.epoch}:`;
  const revision = version.revision === '' ? '' : `-${version.revision}`;
  return `${epoch}${version.upstream}${revision}`;
}

const notUpstream = /[^A-Za-z0-9.+~-]/u;
const notRevision = /[^A-Za-z0-9.+~]/u;

function split(text: string): { problem: string | undefined; version: DebianVersion } {
  const colon = text.indexOf(':');
  const hyphen = text.lastIndexOf('-');
  const epochText = colon === -1 ? '' : text.slice(0, colon);
  const upstream = text.slice(colon + 1, hyphen > colon ? hyphen : text.length);
  const revision = hyphen > colon ? text.slice(hyphen + 1) : '';
  const epoch = epochText === '' ? 0 : Number(epochText);
  return {
    problem: problemOf(text, colon, epochText, epoch, upstream, hyphen > colon, revision),
    version: { epoch, upstream, revision },
  };
}

function problemOf(
  text: string,
  colon: number,
  epochText: string,
  epoch: number,
  upstream: string,
  hasRevision: boolean,
  revision: string,
): string | undefined {
  if (text === '') {
    return 'it is empty';
  }
  if (/\s/.test(text)) {
    return 'it contains whitespace';
  }
  if (colon !== -1) {
    if (!/^[0-9]+$/.test(epochText)) {
      return epochText === '' ? 'the epoch before ":" is empty' : 'the epoch is not a number';
    }
    if (epoch > maxEpoch) {
      return `the epoch is larger than ${maxEpoch}`;
    }
  }
  if (upstream === '') {
    return 'the upstream version is empty';
  }
  if (!/^[0-9]/.test(upstream)) {
    return 'the upstream version does not start with a digit';
  }
  const badUpstream = notUpstream.exec(upstream)?.[0];
  if (badUpstream !== undefined) {
    return `the upstream version contains ${JSON.stringify(badUpstream)}`;
  }
  if (hasRevision && revision === '') {
    return 'the revision after the last "-" is empty';
  }
  const badRevision = notRevision.exec(revision)?.[0];
  if (badRevision !== undefined) {
    return `the revision contains ${JSON.stringify(badRevision)}`;
  }
  return undefined;
}

const zero = 0x30;
const tilde = 0x7e;

function isDigit(c: number): boolean {
  return c >= zero && c <= 0x39;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** dpkg's `order`: `~` before the end of the string, the end before letters, letters before everything else. */
function order(text: string, i: number): number {
  if (i >= text.length) {
    return 0;
  }
  const c = text.charCodeAt(i);
  if (isDigit(c)) {
    return 0;
  }
  if (isLetter(c)) {
    return c;
  }
  return c === tilde ? -1 : c + 256;
}

/**
 * dpkg's `verrevcmp`: alternately a run of non-digits, compared character by
 * character with `order`, and a run of digits, compared as a number.
 */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (
      (i < a.length && !isDigit(a.charCodeAt(i))) ||
      (j < b.length && !isDigit(b.charCodeAt(j)))
    ) {
      const difference = order(a, i) - order(b, j);
      if (difference !== 0) {
        return difference;
      }
      i++;
      j++;
    }
    while (a.charCodeAt(i) === zero) {
      i++;
    }
    while (b.charCodeAt(j) === zero) {
      j++;
    }
    let firstDifference = 0;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (firstDifference === 0) {
        firstDifference = a.charCodeAt(i) - b.charCodeAt(j);
      }
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) {
      return 1;
    }
    if (isDigit(b.charCodeAt(j))) {
      return -1;
    }
    if (firstDifference !== 0) {
      return firstDifference;
    }
  }
  return 0;
}
