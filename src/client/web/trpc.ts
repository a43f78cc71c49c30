import { createTRPCReact } from '@trpc/react-query';
import type { AppRouter } from '../../server/routers/_app.ts';

/** The typed React Query hooks over the tandem link (set up in `TandemProvider`). */
export const trpc = createTRPCReact<AppRouter>();
