import type { Notification as AppNotification } from '../../../shared/notifications.ts';

/** What `notifications.list` answers, as cached. */
export interface NotificationPage {
  items: AppNotification[];
  unread: number;
  nextBefore: number | null;
}

/** The server's order: newest event first, then id. */
function newestFirst(a: AppNotification, b: AppNotification): number {
  return b.eventSeq - a.eventSeq || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * A notification that arrived live, put in its place in the cached list (newest first) and
 * counted as unread; unchanged when the list has it already (a refetch got there first) or
 * nothing is cached yet (the fetch under way will bring it).
 */
export function withNotification(page: NotificationPage | undefined, item: AppNotification): NotificationPage | undefined {
  if (!page || page.items.some((known) => known.id === item.id)) return page;
  return { ...page, items: [...page.items, item].sort(newestFirst), unread: page.unread + (item.readAt ? 0 : 1) };
}

export type ReadSelection = { ids: string[] } | { all: true };

/** The list as it will be once these notifications are marked read (the optimistic step of `markRead`). */
export function withRead(page: NotificationPage | undefined, selection: ReadSelection, at: string): NotificationPage | undefined {
  if (!page) return page;
  const chosen = 'all' in selection ? null : new Set(selection.ids);
  let marked = 0;
  const items = page.items.map((item) => {
    if (item.readAt || (chosen && !chosen.has(item.id))) return item;
    marked += 1;
    return { ...item, readAt: at };
  });
  return { ...page, items, unread: chosen ? Math.max(0, page.unread - marked) : 0 };
}

/**
 * The notifications of `page` that are news: raised after `baseline` (the head of the log
 * when this session began listening), still unread, and not announced before. Marks them
 * announced in `announced`, so the same one arriving again (live, by a refetch, or replayed
 * after a reconnect) is announced once. Newest first, as the page is.
 */
export function takeNews(page: NotificationPage, baseline: number, announced: Set<string>): AppNotification[] {
  const news: AppNotification[] = [];
  for (const item of page.items) {
    if (announced.has(item.id)) continue;
    announced.add(item.id);
    if (item.eventSeq > baseline && !item.readAt) news.push(item);
  }
  return news;
}
