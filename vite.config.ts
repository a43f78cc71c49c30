import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('./src/client/web', import.meta.url));
const api = process.env.TANDEM_API_URL ?? 'http://127.0.0.1:3000';

/**
 * The web app. `npm run dev`: Vite with hot reload on port 5173, proxying the API and its
 * WebSocket (`/trpc`) to the server started by `npm start` (or TANDEM_API_URL).
 * `npm run build:web`: the production build in dist/web, which the server serves.
 */
export default defineConfig({
  root,
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
  },
  server: {
    proxy: {
      '/trpc': { target: api, ws: true, changeOrigin: true },
      '/healthz': { target: api },
    },
  },
});
