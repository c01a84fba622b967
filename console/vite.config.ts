import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Built into chalicelib/ so Chalice packages it with the API (served at /console, same origin).
// Fixed file names: the Lambda serves exactly the files of the build (see chalicelib/api/console.py).
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "../chalicelib/api/console_dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        entryFileNames: "assets/console.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
});
