/** Collects what a subscription yields (the data of tracked envelopes). */
export function collect<T>(subscribe: (handlers: { onStarted: () => void; onData: (value: unknown) => void; onError: (error: unknown) => void }) => { unsubscribe(): void }) {
  const items: T[] = [];
  const errors: unknown[] = [];
  let started = false;
  const subscription = subscribe({
    onStarted: () => (started = true),
    onData: (value) => {
      const tracked = value as { id?: unknown; data?: T };
      items.push(typeof tracked.id === 'string' && 'data' in tracked ? tracked.data! : (value as T));
    },
    onError: (error) => errors.push(error),
  });
  return { items, errors, isStarted: () => started, stop: () => subscription.unsubscribe() };
}
