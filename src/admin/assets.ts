import { readFileSync } from 'node:fs';
import { sendAsset } from './http/respond.js';
import type { Route } from './routing.js';

/**
 * The panel's script and style sheet, files beside this module (copied to `dist/` by the build),
 * read once on first use. No front-end build: what is in the file is what the browser gets.
 */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/assets/panel.js': { file: 'panel.js', type: 'text/javascript' },
  '/assets/panel.css': { file: 'panel.css', type: 'text/css' },
};

const loaded = new Map<string, string>();

function read(file: string): string {
  let text = loaded.get(file);
  if (text === undefined) {
    text = readFileSync(new URL(`./assets/${file}`, import.meta.url), 'utf8');
    loaded.set(file, text);
  }
  return text;
}

export const assetRoutes: readonly Route[] = Object.entries(FILES).map(([path, { file, type }]) => ({
  method: 'GET' as const,
  path,
  access: 'public' as const,
  api: false,
  async handle({ res }) {
    sendAsset(res, type, read(file));
  },
}));
