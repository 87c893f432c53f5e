import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Build: npx vite build --config services/telephony-bridge/web/vite.config.ts
// Output: services/telephony-bridge/web/dist (committed; the service serves it at /operator).
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/operator/',
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', target: 'es2022', sourcemap: false },
});
