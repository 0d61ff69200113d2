/**
 * Debian's Chromium for the browser tests, driven by playwright-core. Without it the tests skip
 * locally and fail under CI=true (.ci/run installs it).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Headless on this kind of machine: no sandbox (root), no GPU, and none of Chromium's background traffic (the network is closed). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launches headless Chromium, or returns why it cannot (locally only: under CI=true a missing one throws). */
export async function launchChromium(): Promise<Browser | string> {
  if (!existsSync(CHROMIUM)) {
    const why = `${CHROMIUM} is missing (apt-get install -y chromium)`;
    if (process.env.CI === 'true') throw new Error(`browser tests need Chromium: ${why}`);
    return why;
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}
