import assert from 'node:assert/strict';
import type { ApiResponse } from './api.ts';

/** Asserts a response is kiln's error body with this status and code. */
export function assertError(response: ApiResponse, status: number, code: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body?.error?.code, code, JSON.stringify(response.body));
  assert.equal(typeof response.body.error.message, 'string');
}

/** Asserts a response has this status, showing the body when it does not. */
export function assertStatus(response: ApiResponse, status: number): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
}
