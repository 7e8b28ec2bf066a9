import { readFile } from 'node:fs/promises';
import { parseDeb822, parseFileList, stripClearsign, type Paragraph } from '../../debian/deb822.ts';

/** A parsed .dsc: its fields and the files it names (besides itself). */
export interface SourceControl {
  readonly fields: Paragraph;
  readonly files: readonly string[];
}

export async function readSourceControl(path: string): Promise<SourceControl> {
  const [fields] = parseDeb822(stripClearsign(await readFile(path, 'utf8')));
  if (fields === undefined || !fields.has('Source') || !fields.has('Version')) {
    throw new Error(`${path} is not a source control file`);
  }
  const listed = parseFileList(fields.get('Checksums-Sha256') ?? fields.get('Files'));
  return { fields, files: listed.map((f) => f.name) };
}

/** A version without its epoch, as file names carry it (Debian Policy §5.6.12). */
export function versionWithoutEpoch(version: string): string {
  return version.replace(/^\d+:/, '');
}

/** The upstream part of a version: no epoch, no Debian revision. */
export function upstreamVersion(version: string): string {
  const noEpoch = versionWithoutEpoch(version);
  const dash = noEpoch.lastIndexOf('-');
  return dash === -1 ? noEpoch : noEpoch.slice(0, dash);
}
