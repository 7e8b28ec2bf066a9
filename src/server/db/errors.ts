/** PostgreSQL error codes kiln branches on (PostgreSQL Appendix A). */
const foreignKeyViolation = '23503';
const uniqueViolation = '23505';

function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = error.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function isForeignKeyViolation(error: unknown): boolean {
  return sqlState(error) === foreignKeyViolation;
}

export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === uniqueViolation;
}

/** The constraint a violation names (a key, or a trigger standing for one). */
export function constraintOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'constraint' in error) {
    const constraint = error.constraint;
    return typeof constraint === 'string' ? constraint : undefined;
  }
  return undefined;
}
