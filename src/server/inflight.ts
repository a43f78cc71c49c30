/** Counts calls in progress, so a shutdown can let them finish before closing their connections. */
export function createInflightTracker() {
  let count = 0;
  let waiters: (() => void)[] = [];
  return {
    /** Marks a call as started; the returned function marks it finished. */
    begin(): () => void {
      count += 1;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        count -= 1;
        if (count === 0) {
          for (const wake of waiters) wake();
          waiters = [];
        }
      };
    },
    get count() {
      return count;
    },
    /** Resolves when nothing is in progress, or after `timeoutMs` (true when it drained). */
    async drained(timeoutMs: number): Promise<boolean> {
      if (count === 0) return true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        new Promise<true>((resolve) => waiters.push(() => resolve(true))),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      return drained;
    },
  };
}

export type InflightTracker = ReturnType<typeof createInflightTracker>;
