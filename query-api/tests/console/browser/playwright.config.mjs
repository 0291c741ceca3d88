// Chromium from the system's package (/usr/bin/chromium): Playwright's own browser downloads
// are not used, so the tests run on a machine without access to them.
import { defineConfig } from "@playwright/test";

const artifacts = process.env.CONSOLE_ARTIFACTS ?? "artifacts";

export default defineConfig({
  testDir: ".",
  testMatch: /.*\.spec\.mjs$/,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: `${artifacts}/results`,
  use: {
    baseURL: process.env.QUERY_URL,
    actionTimeout: 20_000,
    navigationTimeout: 20_000,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      // Chromium's own network chatter (updates, sync, QUIC probes) only fails on a machine
      // without internet access; the sandbox needs user namespaces that root in CI lacks.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
