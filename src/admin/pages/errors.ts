import { html } from '../html.js';
import type { Exchange } from '../routing.js';
import { layout } from './layout.js';

/** The page for a refused or failed request. */
export function errorPage(exchange: Exchange, status: number, message: string) {
  const title = status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : status >= 500 ? 'Something went wrong' : 'Cannot do that';
  return layout(exchange, title, html`<p class="error" data-status="${status}">${message}</p>`);
}
