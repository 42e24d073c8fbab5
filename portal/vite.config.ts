import { defineConfig } from "vitest/config";

// Served by the gateway under /portal/ (ehr-gateway --portal-dir portal/dist).
export default defineConfig({
  base: "/portal/",
  build: { outDir: "dist", emptyOutDir: true },
  test: { include: ["tests/**/*.test.ts"] },
});
