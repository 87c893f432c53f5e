import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Build: npx vite build --config services/message-status/web/vite.config.ts
// Output: services/message-status/web/dist (committed; the service serves it at /dashboard).
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/dashboard/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
  },
});
