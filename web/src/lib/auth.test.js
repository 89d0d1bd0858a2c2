import { describe, it, expect } from 'vitest';
import { loginError, isLocalPath } from './auth.js';
import { ApiError } from './api.js';
import { describeError } from './errors.js';

describe('sign-in errors', () => {
  it('maps statuses to messages', () => {
    expect(loginError(new ApiError({ status: 401 })).key).toBe('signin.wrong');
    expect(loginError(new ApiError({ status: 403 })).key).toBe('signin.disabled');
    expect(loginError(new ApiError({ status: 429, retryAfter: 42 }))).toEqual({ key: 'signin.tooMany', params: { seconds: 42 } });
    expect(loginError(new ApiError({ status: 429 })).key).toBe('signin.tooManyNoWait');
    expect(loginError(new ApiError({ network: true })).key).toBe('error.network');
    expect(loginError(new ApiError({ status: 500, message: 'boom' }))).toEqual({ key: 'error.generic', params: { message: 'boom' } });
  });
  it('follows only same-origin provider paths', () => {
    expect(isLocalPath('/v1/auth/oidc/start')).toBe(true);
    expect(isLocalPath('//evil.example/x')).toBe(false);
    expect(isLocalPath('/\\evil.example')).toBe(false);
    expect(isLocalPath('https://evil.example')).toBe(false);
    expect(isLocalPath('javascript:alert(1)')).toBe(false);
  });
  it('describes API errors', () => {
    expect(describeError(new ApiError({ status: 429, retryAfter: 3 })).key).toBe('error.rateLimited');
    expect(describeError(new ApiError({ status: 400, code: 'context_length_exceeded', message: 'm' })).key).toBe('error.context');
    expect(describeError(new ApiError({ status: 400, code: 'content_filter', message: 'rule x' }))).toEqual({ key: 'error.filtered', params: { message: 'rule x' } });
    expect(describeError(new ApiError({ status: 503, message: 'loading' })).key).toBe('error.unavailable');
    expect(describeError(new ApiError({ network: true })).key).toBe('error.network');
    expect(describeError({ message: '' }).key).toBe('error.unknown');
  });
});

import { isRetryable } from './errors.js';
describe('retry', () => {
  it('offers Retry only where it can help', () => {
    expect(isRetryable(new ApiError({ network: true }))).toBe(true);
    expect(isRetryable(new ApiError({ status: 429 }))).toBe(true);
    expect(isRetryable(new ApiError({ status: 503 }))).toBe(true);
    expect(isRetryable(new ApiError({ status: 401 }))).toBe(true);
    expect(isRetryable(new ApiError({ status: 0, message: 'stream error' }))).toBe(true);
    expect(isRetryable(new ApiError({ status: 403 }))).toBe(false);
    expect(isRetryable(new ApiError({ status: 400 }))).toBe(false);
    expect(isRetryable(null)).toBe(false);
  });
});
