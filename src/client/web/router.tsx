import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

/**
 * A few lines of history-API routing: the app has a handful of URL shapes
 * (/signin, /:module, /:module/new, /:module/:id) and needs no router library.
 */
const listeners = new Set<() => void>();
const emit = () => {
  for (const listener of [...listeners]) listener();
};
if (typeof window !== 'undefined') window.addEventListener('popstate', emit);

export function navigate(to: string, { replace = false } = {}) {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  emit();
}

/** `navigate`, only while the page is still at `from`: an answer that comes after the person went elsewhere does not take them back. */
export function navigateFrom(from: string, to: string, options?: { replace?: boolean }) {
  if (window.location.pathname === from) navigate(to, options);
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

export function usePathname(): string {
  return useSyncExternalStore(
    subscribe,
    () => window.location.pathname,
    () => '/',
  );
}

/** An <a> that navigates without reloading (and still opens in a new tab with a modifier key). */
export function Link({ href, onClick, ...props }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={handle} {...props} />;
}
