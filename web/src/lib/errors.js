// An ApiError (or any error) -> {key, params} for t(): what a person should read.
export function describeError(err) {
  if (!err) return { key: 'error.unknown', params: {} };
  if (err.network) return { key: 'error.network', params: {} };
  const message = err.message || '';
  switch (err.status) {
    case 429:
      return { key: 'error.rateLimited', params: { message } };
    case 401:
      return { key: 'error.session', params: {} };
    case 403:
      return { key: 'error.forbidden', params: { message } };
    case 404:
      return { key: 'error.notFound', params: { message } };
    case 413:
      return { key: 'error.tooLarge', params: { message } };
    case 503:
      return { key: 'error.unavailable', params: { message } };
    default:
      if (err.code === 'context_length_exceeded') return { key: 'error.context', params: { message } };
      if (err.code === 'content_filter') return { key: 'error.filtered', params: { message } };
      return message ? { key: 'error.generic', params: { message } } : { key: 'error.unknown', params: {} };
  }
}

// Whether trying the same request again can help (a Retry button makes sense).
export function isRetryable(err) {
  if (!err) return false;
  if (err.network || !err.status) return true;
  return err.status === 401 || err.status === 408 || err.status === 429 || err.status >= 500;
}
