import type { ActionMember, OperatorAction } from '../../operations/bulk.js';
import type { FailureFilter, FailureTarget } from '../../operations/filter.js';
import { html, query, type SafeHtml, when } from '../html.js';
import { type Exchange, link } from '../routing.js';
import { filterQuery } from './failures.js';
import { badge, json, layout, postForm } from './layout.js';

/**
 * A bulk retry or skip in three steps: a filter and its dry-run count (nothing written), freeze
 * (the matching failures are stored as the action's members), run (in the background, on the
 * frozen members only), with progress on the action's page.
 */
export function bulkPage(exchange: Exchange, contexts: readonly string[], context: string, target: FailureTarget, filter: FailureFilter, count: number): SafeHtml {
  const kept = filterQuery(context, target, filter);
  const field = (name: string, label: string, value: string | undefined, hint = '') =>
    html`<label>${label} <input name="${name}" value="${value ?? ''}" placeholder="${hint}"></label>`;
  const operator = exchange.user?.role === 'operator';
  const hidden = Object.fromEntries(Object.entries(kept).filter((e): e is [string, string] => e[1] !== undefined));
  return layout(
    exchange,
    'Bulk retry or skip',
    html`<form method="get" action="${link(exchange.panel, '/bulk')}" class="filters">
<label>Context <select name="context">${contexts.map((c) => html`<option${c === context ? html` selected` : ''}>${c}</option>`)}</select></label>
<label>Of <select name="target"><option value="events"${target === 'events' ? html` selected` : ''}>parked events</option><option value="messages"${target === 'messages' ? html` selected` : ''}>consumer messages</option></select></label>
${field('owner', target === 'events' ? 'Subscription or relay' : 'Consumer', filter.owner)}
${field('fingerprint', 'Fingerprint', filter.fingerprint === null ? 'none' : filter.fingerprint, '16 hex digits or none')}
${field('eventType', 'Event type', filter.eventType)}
${field('streamId', 'Stream', filter.streamId)}
${field('since', 'Since', filter.since?.toISOString(), '2024-05-01T00:00Z')}
${field('until', 'Until', filter.until?.toISOString())}
<button type="submit" class="secondary">Count</button>
</form>
<section class="card">
<p><strong data-dry-run="${count}">${count}</strong> ${target === 'events' ? 'parked or scheduled events' : 'parked or scheduled messages'} match now (dry run: nothing was changed).</p>
${
  !operator
    ? html`<p class="muted">Viewers cannot run bulk actions.</p>`
    : count === 0
      ? ''
      : postForm(
          exchange,
          '/bulk/freeze',
          hidden,
          html`<label>Action <select name="kind"><option value="retry">Retry</option><option value="skip">Skip</option></select></label>
<label>Reason (for a skip) <input name="reason" maxlength="500"></label>
<button type="submit">Freeze these ${count}</button>
<p class="muted">Freezing stores the failures that match at that moment. Running the action later touches those only: failures that match afterwards are left alone.</p>`,
          'stack',
        )
}
</section>`,
  );
}

/** One action: what was frozen, its progress (followed live while it runs), run and cancel. */
export function actionPage(exchange: Exchange, context: string, action: OperatorAction, failed: readonly ActionMember[]): SafeHtml {
  const fields = { context, id: action.id };
  const active = action.status === 'frozen' || action.status === 'running' || action.status === 'settling';
  const operator = exchange.user?.role === 'operator';
  const fact = (label: string, name: keyof OperatorAction) => html`<div><dt>${label}</dt><dd data-action-field="${name}">${String(action[name])}</dd></div>`;
  return layout(
    exchange,
    `Bulk action ${action.id} in ${context}`,
    html`<section class="card" data-action-url="${active ? link(exchange.panel, `/api/actions/one${query(fields)}`) : ''}">
<p>${action.kind === 'retry' ? 'Retry' : 'Skip'} the ${action.target === 'events' ? 'parked events' : 'consumer messages'} frozen ${when(action.createdAt)} by ${action.requestedBy}${action.reason ? html` (reason: ${action.reason})` : ''}.
Status: <span data-action-status>${badge(action.status)}</span></p>
<progress max="${Math.max(1, action.total)}" value="${action.total - action.pending - action.requested}"></progress>
<dl class="facts">
${fact('Frozen', 'total')}${fact('Not acted on yet', 'pending')}${fact('Requested, in progress', 'requested')}${fact('Done', 'done')}${fact('Failed again', 'failed')}${fact('Already resolved', 'alreadyResolved')}${fact('Busy elsewhere', 'busy')}
</dl>
${action.error ? html`<p class="error">${action.error}</p>` : ''}
<h3>Filter</h3><pre>${json(action.filter)}</pre>
${
  operator && active
    ? html`<div class="actions">
${action.status === 'frozen' ? postForm(exchange, '/actions/run', fields, html`<button type="submit" name="run">Run on the ${action.total} frozen</button>`, 'inline') : ''}
${postForm(exchange, '/actions/cancel', fields, html`<button type="submit" class="secondary" name="cancel">Cancel</button>`, 'inline')}
</div>`
    : ''
}
</section>
${failed.length > 0 ? html`<h2>Failed again</h2><table><thead><tr><th>Owner</th><th>Key</th><th>Outcome</th></tr></thead><tbody>${failed.map((m) => html`<tr><td><code>${m.owner}</code></td><td class="mono">${m.key}</td><td>${m.detail}</td></tr>`)}</tbody></table>` : ''}`,
  );
}

/** The latest actions of every context. */
export function actionsPage(exchange: Exchange, all: readonly { context: string; actions: readonly OperatorAction[] }[]): SafeHtml {
  return layout(
    exchange,
    'Bulk actions',
    html`<p><a href="${link(exchange.panel, '/bulk')}">New bulk retry or skip…</a></p>
${all.map(
  ({ context, actions }) => html`<section class="card"><h2>${context}</h2>${
    actions.length === 0
      ? html`<p class="muted">None yet.</p>`
      : html`<table><thead><tr><th class="num">Id</th><th>Kind</th><th>Of</th><th>Status</th><th class="num">Frozen</th><th class="num">Done</th><th class="num">Failed</th><th class="num">Already resolved</th><th>By</th><th>Created</th></tr></thead><tbody>${actions.map(
          (a) => html`<tr><td class="num"><a href="${link(exchange.panel, `/actions/view${query({ context, id: a.id })}`)}">${a.id}</a></td><td>${a.kind}</td><td>${a.target}</td><td>${badge(a.status)}</td>
<td class="num">${a.total}</td><td class="num">${a.done}</td><td class="num">${a.failed}</td><td class="num">${a.alreadyResolved}</td><td>${a.requestedBy}</td><td>${when(a.createdAt)}</td></tr>`,
        )}</tbody></table>`
  }</section>`,
)}`,
  );
}
