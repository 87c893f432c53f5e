import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Build: npx nx run console:build-web (event fields from @elo/contracts, type check, then
// npx vite build --config services/console/web/vite.config.ts).
// Output: services/console/web/dist (committed with `git add -f`; the console server serves it at /).
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  resolve: {
    // Pure TypeScript, no Node APIs: the reply template renders in the page exactly as the dispatcher renders it.
    alias: { '@elo/templating': fileURLToPath(new URL('../../../libs/templating/src/index.ts', import.meta.url)) },
  },
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets', target: 'es2022', sourcemap: false },
});
