import { describe, expect, it } from 'vitest';
import { TransferSlots } from '../src/server/comms/file-http.ts';

describe('transfer slots (uploads and carrier media fetches)', () => {
  it('give one user at most their share and the node at most its total; a slot given back twice frees one', () => {
    const slots = new TransferSlots(3, 2);
    const a1 = slots.take('a');
    const a2 = slots.take('a');
    expect(a1 && a2).toBeTruthy();
    // A third for the same user is refused while another user still gets one.
    expect(slots.take('a')).toBeNull();
    const b1 = slots.take('b');
    expect(b1).toBeTruthy();
    // The node is full: nobody gets one.
    expect(slots.take('c')).toBeNull();
    a1!();
    a1!();
    // One freed (not two): c gets it, then the node is full again.
    const c1 = slots.take('c');
    expect(c1).toBeTruthy();
    expect(slots.take('d')).toBeNull();
    a2!();
    b1!();
    c1!();
    expect([slots.take('a'), slots.take('a'), slots.take('b')].every(Boolean)).toBe(true);
  });
});
