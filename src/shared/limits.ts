/**
 * Calls one HTTP batch or one WebSocket frame may carry by default (`MAX_BATCH_SIZE` on
 * the server): the client's HTTP batches are cut to this size, so that they are never refused.
 */
export const DEFAULT_MAX_BATCH_SIZE = 100;
