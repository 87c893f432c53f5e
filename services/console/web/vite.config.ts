import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Build: npx vite build --config services/console/web/vite.config.ts
// Output: services/console/web/dist (committed with `git add -f`; the console server serves it at /).
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', target: 'es2022', sourcemap: false },
});
