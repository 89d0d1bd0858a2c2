import { describe, expect, it } from 'vitest';
import { isLoading, mergeHealth, modelState } from './models.js';

describe('model states', () => {
  it('Hearth\'s "loaded" is the app\'s "ready"; a knowledge alias without a state is ready', () => {
    expect(modelState('loaded')).toBe('ready');
    expect(modelState(undefined)).toBe('ready');
    expect(modelState('loading')).toBe('loading');
    expect(modelState('unloaded')).toBe('unloaded');
    expect(modelState('failed')).toBe('failed');
  });

  it('merges /health states and load progress by id', () => {
    const models = [{ id: 'a', state: 'unloaded', load: null }, { id: 'b', state: 'ready', load: null }];
    const merged = mergeHealth(models, { models: [{ id: 'a', state: 'loading', load: 0.4 }, { id: 'b', state: 'loaded' }] });
    expect(merged[0]).toMatchObject({ id: 'a', state: 'loading', load: 0.4 });
    expect(isLoading(merged[0])).toBe(true);
    expect(merged[1].state).toBe('ready');
  });
});
