// @ts-check
import tseslint from 'typescript-eslint';

/** Folders a room may not import from: the boundaries of STYLE.md. */
const boundaries = {
  'src/protocol/**': ['**/server/**', '**/worker/**', '**/cli/**'],
  'src/client/**': ['**/server/**', '**/worker/**', '**/cli/**', '**/debian/**'],
  'src/debian/**': ['**/server/**', '**/worker/**', '**/cli/**', '**/client/**'],
  'src/worker/**': ['**/server/**', '**/cli/**'],
  'src/cli/**': ['**/server/**', '**/worker/**'],
};

export default tseslint.config(
  {
    // The web UI's browser script is plain JavaScript outside the TypeScript
    // project; Prettier still checks it.
    ignores: [
      'node_modules/**',
      '.kiln/**',
      'bench/out/**',
      'test-results/**',
      'eslint.config.js',
      'src/server/web/static/**',
    ],
  },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      curly: ['error', 'all'],
      // Fastify handlers and interface implementations are async by contract.
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['it', 'describe', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Import cycles are found by dpdm (`npm run lint`).
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: true }],
    },
  },
  ...Object.entries(boundaries).map(([files, forbidden]) => ({
    files: [files],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: forbidden,
              message: 'This room of kiln may not import that one (see STYLE.md: Shape).',
            },
          ],
        },
      ],
    },
  })),
  {
    files: ['**/*.test.ts', 'test/**', 'bench/**'],
    rules: {
      // Tests read response bodies as `any`: asserting on them is the point.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
