/**
 * Desktop notifications through the browser's Notification API, used only when the user
 * granted them: nothing happens where the API is missing or permission was denied.
 */
export type DesktopPermission = NotificationPermission | 'unsupported';

function api(): typeof globalThis.Notification | undefined {
  return typeof window !== 'undefined' && typeof window.Notification === 'function' ? window.Notification : undefined;
}

export function desktopPermission(): DesktopPermission {
  return api()?.permission ?? 'unsupported';
}

/** Asks the user (the browser shows its prompt; call it from a click). */
export async function requestDesktopPermission(): Promise<DesktopPermission> {
  const Api = api();
  if (!Api) return 'unsupported';
  try {
    // Older Safari takes a callback and returns nothing; the others return a promise.
    return await new Promise<NotificationPermission>((resolve, reject) => {
      const result = Api.requestPermission(resolve) as Promise<NotificationPermission> | undefined;
      result?.then(resolve, reject);
    });
  } catch {
    return Api.permission;
  }
}

/** Follows changes made in the browser's site settings; returns the function that stops. */
export function watchDesktopPermission(onChange: (permission: DesktopPermission) => void): () => void {
  let status: PermissionStatus | undefined;
  let stopped = false;
  const changed = () => onChange(desktopPermission());
  if (api() && typeof navigator !== 'undefined' && navigator.permissions?.query) {
    navigator.permissions.query({ name: 'notifications' }).then(
      (result) => {
        if (stopped) return;
        status = result;
        status.addEventListener('change', changed);
      },
      () => undefined,
    );
  }
  return () => {
    stopped = true;
    status?.removeEventListener('change', changed);
  };
}

export interface DesktopNotificationOptions {
  body?: string | null;
  /** Notifications with the same tag replace each other: one per notification, however many tabs show it. */
  tag: string;
  onClick?: () => void;
}

/** Shows one when permission is granted; false when it cannot be shown. */
export function showDesktopNotification(title: string, { body, tag, onClick }: DesktopNotificationOptions): boolean {
  const Api = api();
  if (Api?.permission !== 'granted') return false;
  try {
    const shown = new Api(title, { body: body ?? undefined, tag });
    shown.onclick = () => {
      window.focus();
      onClick?.();
      shown.close();
    };
    return true;
  } catch {
    // Chrome on Android allows them only from a service worker (the constructor throws there).
    return false;
  }
}
