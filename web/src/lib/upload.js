// Document upload with progress (fetch cannot report upload progress; XMLHttpRequest can).
import { getCsrf, ApiError, reportAuthLost } from './api.js';
import { parseRetryAfter } from './format.js';

// -> {promise, abort}; onProgress(fraction 0..1). The promise resolves with the JSON body or
// rejects with ApiError carrying the server's error message.
export function uploadDocument(collection, file, { onProgress, metadata } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('filename', file.name);
    if (metadata) form.append('metadata', JSON.stringify(metadata));
    xhr.open('POST', `/v1/knowledge/collections/${encodeURIComponent(collection)}/documents`);
    xhr.withCredentials = true;
    const csrf = getCsrf();
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress?.(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(1);
        resolve(body);
      } else {
        const e = body?.error ?? {};
        if (xhr.status === 401) reportAuthLost(e);
        reject(new ApiError({ status: xhr.status, message: e.message || xhr.statusText || `HTTP ${xhr.status}`, type: e.type, code: e.code, param: e.param, retryAfter: parseRetryAfter(xhr.getResponseHeader('Retry-After')) }));
      }
    };
    xhr.onerror = () => reject(new ApiError({ network: true, message: 'network error' }));
    xhr.onabort = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
