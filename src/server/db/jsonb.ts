/**
 * Why PostgreSQL's `jsonb` cannot store `value`, or `undefined` when it can.
 *
 * JSON allows any string, but `jsonb` refuses the NUL character (`\u0000`) and
 * unpaired surrogates (PostgreSQL §8.14: "unsupported Unicode escape sequence"),
 * in keys as in values. Checked before a write, so that a client's data is a
 * client error and not a failed statement.
 */
export function explainUnstorableJson(value: unknown, where = ''): string | undefined {
  if (typeof value === 'string') {
    return badString(value, where);
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const reason = explainUnstorableJson(item, `${where}[${index}]`);
      if (reason !== undefined) {
        return reason;
      }
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const path = `${where}.${key}`;
      const reason =
        badString(key, `${where} key ${JSON.stringify(key)}`) ?? explainUnstorableJson(item, path);
      if (reason !== undefined) {
        return reason;
      }
    }
  }
  return undefined;
}

function badString(text: string, where: string): string | undefined {
  if (text.includes('\u0000')) {
    return `${where}: the NUL character (\\u0000) cannot be stored`;
  }
  if (!text.isWellFormed()) {
    return `${where}: an unpaired surrogate cannot be stored`;
  }
  return undefined;
}
