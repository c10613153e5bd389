import { defineConfig } from "vitest/config";

// Served by keystead serve at /ui/: relative asset URLs, hashed file names under assets/.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router marks its modules "use client" for server-component bundlers; meaningless in this SPA.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
