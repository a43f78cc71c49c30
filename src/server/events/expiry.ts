/**
 * Ends subscriptions when their session expires, even while no event arrives, with
 * one timer for the whole process instead of one per subscription: a timer each (its
 * Timeout, the list node.js keeps per distinct delay, and the closures that rearm it)
 * was about 0.5 KB per idle subscription. The watches wait in a min-heap by due time.
 * A refresh moves `session.expiresAt`: a watch that comes due is checked against it
 * again, and waits on when it was moved.
 */
export class ExpiryWatch {
  /** Position in the heap; -1 once stopped or fired. */
  index = -1;
  due: number;
  #fired = false;

  constructor(
    readonly session: { expiresAt: number },
    readonly onExpire: () => void,
  ) {
    this.due = session.expiresAt;
  }

  expired(): boolean {
    return this.#fired || this.session.expiresAt <= Date.now();
  }

  stop(): void {
    remove(this);
  }

  /** @internal */
  fire(notify: boolean): void {
    this.#fired = true;
    if (notify) this.onExpire();
  }
}

/** Calls `onExpire` once when `session` expires; `stop()` when done watching. */
export function watchExpiry(session: { expiresAt: number }, onExpire: () => void): ExpiryWatch {
  const watch = new ExpiryWatch(session, onExpire);
  // Already expired: nothing to end yet, and the caller asks `expired()` before it starts.
  if (watch.due <= Date.now()) watch.fire(false);
  else insert(watch);
  return watch;
}

const heap: ExpiryWatch[] = [];
let timer: ReturnType<typeof setTimeout> | undefined;
/** When the timer fires; it only moves earlier, so a stopped watch costs no rescheduling. */
let timerDue = Infinity;

function insert(watch: ExpiryWatch) {
  watch.index = heap.length;
  heap.push(watch);
  siftUp(watch.index);
  schedule();
}

function remove(watch: ExpiryWatch) {
  const index = watch.index;
  if (index < 0) return;
  watch.index = -1;
  const last = heap.pop()!;
  if (last === watch) return;
  heap[index] = last;
  last.index = index;
  siftDown(index);
  siftUp(last.index);
}

function schedule() {
  const next = heap[0];
  if (!next || next.due >= timerDue) return;
  clearTimeout(timer);
  timerDue = next.due;
  // setTimeout holds at most about 24.8 days.
  timer = setTimeout(fireDue, Math.min(Math.max(0, next.due - Date.now()), 2 ** 31 - 1));
  timer.unref?.();
}

function fireDue() {
  timer = undefined;
  timerDue = Infinity;
  const now = Date.now();
  const due: ExpiryWatch[] = [];
  while (heap[0] && heap[0].due <= now) {
    const watch = heap[0];
    remove(watch);
    if (watch.session.expiresAt > now) {
      watch.due = watch.session.expiresAt;
      watch.index = heap.length;
      heap.push(watch);
      siftUp(watch.index);
    } else due.push(watch);
  }
  schedule();
  // After the heap is consistent again: an expiring stream may stop other watches.
  for (const watch of due) {
    try {
      watch.fire(true);
    } catch {
      // One subscriber's failure to end must not keep the others running.
    }
  }
}

function siftUp(index: number) {
  const watch = heap[index]!;
  while (index > 0) {
    const parentIndex = (index - 1) >> 1;
    const parent = heap[parentIndex]!;
    if (parent.due <= watch.due) break;
    heap[index] = parent;
    parent.index = index;
    index = parentIndex;
  }
  heap[index] = watch;
  watch.index = index;
}

function siftDown(index: number) {
  const watch = heap[index]!;
  for (;;) {
    let child = 2 * index + 1;
    if (child >= heap.length) break;
    if (child + 1 < heap.length && heap[child + 1]!.due < heap[child]!.due) child += 1;
    if (heap[child]!.due >= watch.due) break;
    heap[index] = heap[child]!;
    heap[index]!.index = index;
    index = child;
  }
  heap[index] = watch;
  watch.index = index;
}

/**
 * Fires now every watch whose session has expired, without waiting for its due time: a
 * session ended early (revoked, its user deactivated or removed; auth/sessions.ts) has
 * its `expiresAt` set to 0. A scan of every watch, which is rare (one per revocation
 * notice) and cheaper than an index of watches by session, kept for every subscription.
 */
export function endExpiredWatchesNow(): void {
  const now = Date.now();
  const due = heap.filter((watch) => watch.session.expiresAt <= now);
  for (const watch of due) remove(watch);
  for (const watch of due) {
    try {
      watch.fire(true);
    } catch {
      // One subscriber's failure to end must not keep the others running.
    }
  }
}

/** Watches waiting; for tests. */
export function pendingExpiryWatches(): number {
  return heap.length;
}
