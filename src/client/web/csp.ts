import { z } from 'zod';

/**
 * The app runs under a Content-Security-Policy without 'unsafe-eval' (src/server/web.ts).
 * zod compiles object parsers with `new Function` when it may; its probe for that alone
 * is a CSP violation on every page. Jitless parsing is as correct, and fast enough for
 * forms. Imported first by main.tsx, before any schema parses.
 */
z.config({ jitless: true });
