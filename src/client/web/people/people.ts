import { useEffect, useMemo } from 'react';
import { MAX_USERS_PAGE, type Role } from '../../../shared/auth.ts';
import { usePresence } from '../presence/PresenceProvider.tsx';
import { useSession } from '../session/SessionContext.tsx';
import { trpc } from '../trpc.ts';

export interface Person {
  id: string;
  name: string;
  email: string;
  role: Role;
}

export interface PeopleValue {
  /** The org's people, by name. Empty until `users.list` has answered. */
  people: readonly Person[];
  byId: ReadonlyMap<string, Person>;
  isLoading: boolean;
}

/**
 * The people of the signed-in user's org (`users.list`), read once per session in pages
 * of the largest size and shared by every field, avatar and message through the query
 * cache: anyone of the org may need a name, so the directory is read to its end. People
 * join an org rarely, so it is kept for ten minutes before a refetch.
 */
export function usePeople(): PeopleValue {
  const query = trpc.users.list.useInfiniteQuery({ limit: MAX_USERS_PAGE }, { getNextPageParam: (page) => page.nextCursor ?? undefined, staleTime: 10 * 60_000 });
  const { data, hasNextPage, isFetching, fetchNextPage } = query;
  useEffect(() => {
    // Every component using the directory runs this: one of them asks for the next page, the others see it in flight.
    if (hasNextPage && !isFetching) void fetchNextPage({ cancelRefetch: false });
  }, [hasNextPage, isFetching, fetchNextPage]);
  return useMemo(() => {
    const people = data?.pages.flatMap((page) => page.items) ?? [];
    return { people, byId: new Map(people.map((person) => [person.id, person])), isLoading: query.isLoading };
  }, [data, query.isLoading]);
}

/**
 * How a person is named in running text ("deleted by …", "… changed this"): "you", their
 * name from the org's directory (or from presence, which names whoever is online), and
 * "a colleague" only while neither knows them yet.
 */
export function useUserName(userId: string | null | undefined): string {
  const { user } = useSession();
  const { byId } = usePeople();
  const { entries } = usePresence();
  if (!userId) return 'someone';
  if (userId === user.id) return 'you';
  return byId.get(userId)?.name ?? entries.get(userId)?.name ?? 'a colleague';
}

/**
 * The names of people whom presence names itself (viewers, typists, avatars), as the org's
 * directory has them where it knows them, so one person reads the same everywhere.
 */
export function useNamesOf(people: readonly { userId: string; name: string }[] | undefined): string[] {
  const { byId } = usePeople();
  return (people ?? []).map((person) => byId.get(person.userId)?.name ?? person.name);
}

/** A person as a value on its own (an assignee field): "Alice Adams (you)", "Bob Baker", or "Unknown person". */
export function usePersonLabel(userId: string): string {
  const { user } = useSession();
  const { byId, isLoading } = usePeople();
  const { entries } = usePresence();
  const name = byId.get(userId)?.name ?? entries.get(userId)?.name ?? (userId === user.id ? user.name : undefined);
  if (userId === user.id) return `${name} (you)`;
  return name ?? (isLoading ? '…' : 'Unknown person');
}
