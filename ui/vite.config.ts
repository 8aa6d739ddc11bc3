import { svelte } from '@sveltejs/vite-plugin-svelte'
import { svelteTesting } from '@testing-library/svelte/vite'
import { defineConfig } from 'vitest/config'

// The app runs offline inside a Tauri webview with a strict CSP
// (`style-src 'self'`, no inline scripts): everything is emitted as files
// next to index.html and nothing is fetched from the network.
export default defineConfig({
  base: './',
  clearScreen: false,
  plugins: [svelte(), svelteTesting()],
  server: {
    port: 1420,
    strictPort: true,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Never inline assets as data: URIs; the CSP only allows 'self'.
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    // Tauri's webviews (WebView2, WebKitGTK, WKWebView) support modulepreload.
    modulePreload: { polyfill: false },
    target: 'es2022',
    rolldownOptions: {
      // Sass compiling nhsuk-frontend dominates the build; no need to say so.
      checks: { pluginTimings: false },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
  },
})
