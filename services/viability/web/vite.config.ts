import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Build: npx vite build --config services/viability/web/vite.config.ts
// Output: services/viability/web/dist (committed with `git add -f`; the service serves it at /findme/<token>).
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/findme/',
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', target: 'es2020', sourcemap: false },
});
