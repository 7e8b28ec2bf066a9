import { Paragraph, formatDeb822, formatField } from './deb822.ts';

/**
 * Layout and index entries of a Debian archive (the Debian repository format:
 * https://wiki.debian.org/DebianRepository/Format).
 */

/** The pool directory of a source package: `pool/<component>/<prefix>/<source>`. */
export function poolDirectory(component: string, source: string): string {
  const prefix =
    source.startsWith('lib') && source.length > 3 ? source.slice(0, 4) : source.slice(0, 1);
  return `pool/${component}/${prefix}/${source}`;
}

/** The source name and version a binary was built from (`Source: name (version)`). */
export function sourceOf(control: Paragraph): { name: string; version: string } {
  const field = control.get('Source');
  const version = control.get('Version') ?? '';
  if (field === undefined) {
    return { name: control.get('Package') ?? '', version };
  }
  const match = /^(\S+)(?:\s+\(([^)]+)\))?$/.exec(field.trim());
  return { name: match?.[1] ?? field.trim(), version: match?.[2] ?? version };
}

export interface FileFacts {
  readonly filename: string;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
}

/** Fields of a Packages stanza that kiln computes: never copied from the control file. */
const computedPackageFields = new Set(['filename', 'size', 'md5sum', 'sha1', 'sha256', 'sha512']);

/**
 * The Packages stanza of a binary package: its control fields (Package first),
 * then Filename, Size, MD5sum and SHA256, as dpkg-scanpackages writes them.
 * Ends with a newline, no blank line.
 */
export function packagesStanza(control: Paragraph, file: FileFacts): string {
  // Written as it goes, not through a filtered copy: every .deb an include adds has one.
  let packageField = '';
  let others = '';
  for (const [name, value] of control.fields()) {
    const lower = name.toLowerCase();
    if (computedPackageFields.has(lower)) {
      continue;
    }
    const lines = formatField(name, value);
    if (packageField === '' && lower === 'package') {
      packageField = lines;
    } else {
      others += lines;
    }
  }
  return (
    packageField +
    others +
    formatField('Filename', file.filename) +
    formatField('Size', String(file.size)) +
    formatField('MD5sum', file.md5) +
    formatField('SHA256', file.sha256)
  );
}

/** A stanza as text, from text or its UTF-8. */
export function stanzaText(stanza: string | Uint8Array): string {
  return typeof stanza === 'string' ? stanza : utf8.decode(stanza);
}

const utf8 = new TextDecoder();

/** A file a source package consists of, with its facts. */
export interface SourceFile {
  readonly name: string;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
}

const droppedSourceFields = new Set([
  'source',
  'files',
  'checksums-sha1',
  'checksums-sha256',
  'checksums-sha512',
  'directory',
]);

/**
 * The Sources stanza of a source package from its .dsc fields: `Package`
 * instead of `Source`, the .dsc's other fields, `Directory`, and `Files` and
 * `Checksums-Sha256` listing the .dsc and every file it names.
 */
export function sourcesStanza(
  dsc: Paragraph,
  directory: string,
  files: readonly SourceFile[],
): string {
  const rest = dsc.entries().filter(([name]) => !droppedSourceFields.has(name.toLowerCase()));
  const fields: [string, string][] = [
    ['Package', dsc.get('Source') ?? ''],
    ...rest,
    ['Directory', directory],
    ['Files', ['', ...files.map((f) => `${f.md5} ${f.size} ${f.name}`)].join('\n')],
    ['Checksums-Sha256', ['', ...files.map((f) => `${f.sha256} ${f.size} ${f.name}`)].join('\n')],
  ];
  return formatDeb822([new Paragraph(fields)]);
}
