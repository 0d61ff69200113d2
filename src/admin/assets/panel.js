// Herald admin panel: live updates, nothing else. Served as a file (the CSP allows no inline script).
(() => {
  'use strict';
  const body = document.body;
  const base = body.dataset.base || '';
  const ACTIVE = new Set(['frozen', 'running', 'settling']);
  const PENDING = new Set(['retry_requested', 'skip_requested', 'retrying']);

  const rate = (v) => (v >= 100 ? `${Math.round(v)}/s` : `${v.toFixed(1)}/s`);
  const all = (selector) => Array.from(document.querySelectorAll(selector));
  const byKey = (attr, key) => all(`[${attr}="${CSS.escape(key)}"]`);

  function set(key, value) {
    for (const el of byKey('data-live-key', key)) if (el.textContent !== String(value)) el.textContent = String(value);
  }

  /** Sets a badge, or the badge inside a holder element. */
  function setBadge(target, status) {
    const el = target.classList.contains('badge') ? target : target.querySelector('.badge') || target;
    el.textContent = status;
    const tone = /^(handled|retried|running|finished|done|healthy|ok)$/.test(status) ? 'good' : /^(parked|failed|stalled|flagged|cancelled|error)$/.test(status) ? 'bad' : 'neutral';
    el.className = `badge ${tone}`;
  }

  function spark(key, values) {
    if (!values || values.length === 0) return;
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? 80 / (values.length - 1) : 0;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(19 - (v / max) * 18).toFixed(1)}`).join(' ');
    for (const el of byKey('data-spark', key)) el.setAttribute('points', points);
  }

  function update(data) {
    for (const ctx of data.contexts) {
      const c = ctx.context;
      set(`${c}||head`, ctx.head);
      set(`${c}||headRate`, rate(ctx.headRate));
      set(`${c}||unsequenced`, ctx.unsequenced);
      set(`${c}||openAppends`, ctx.openAppends.length);
      set(`${c}||sampled`, new Date(ctx.at).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'));
      set(`${c}||error`, ctx.error || '');
      spark(`${c}|`, ctx.headSpark);
      for (const loop of ctx.loops) {
        const k = `${c}|${loop.name}|`;
        for (const el of byKey('data-live-badge', `${k}state`)) setBadge(el, loop.state);
        set(`${k}position`, loop.position);
        set(`${k}lag`, loop.lag);
        set(`${k}parked`, loop.parked);
        set(`${k}blocked`, loop.blockedStreams);
        set(`${k}lease`, loop.leaseOwner || '—');
        set(`${k}rate`, rate(loop.rate));
        spark(`${c}|${loop.name}`, loop.spark);
      }
      for (const consumer of ctx.consumers) {
        const k = `${c}|consumer:${consumer.consumer}:${consumer.source}|`;
        set(`${k}parked`, consumer.parked);
        set(`${k}scheduled`, consumer.scheduled);
        set(`${k}held`, consumer.held);
      }
      for (const d of ctx.deliveries) {
        const k = `${c}|delivery:${d.consumer}|`;
        set(`${k}handledThrough`, d.handledThrough);
        set(`${k}pending`, d.pending);
        set(`${k}flagged`, d.flagged);
      }
    }
  }

  if (body.dataset.live === 'on' && window.EventSource) {
    const source = new EventSource(`${base}/live`);
    source.addEventListener('status', (event) => update(JSON.parse(event.data)));
  }

  // A bulk action's page follows its progress until it ends.
  for (const el of all('[data-action-url]')) {
    const url = el.getAttribute('data-action-url');
    const poll = async () => {
      const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      const { action } = await response.json();
      for (const field of el.querySelectorAll('[data-action-field]')) field.textContent = String(action[field.getAttribute('data-action-field')]);
      for (const badge of el.querySelectorAll('[data-action-status]')) setBadge(badge, action.status);
      for (const bar of el.querySelectorAll('progress')) bar.value = action.total - action.pending - action.requested;
      if (ACTIVE.has(action.status)) setTimeout(poll, 500);
      else for (const form of el.querySelectorAll('form[data-while-active]')) form.hidden = true;
    };
    setTimeout(poll, 300);
  }

  // A parked event's or message's page follows a retry or skip in progress until it settles.
  for (const el of all('[data-watch-url]')) {
    const url = el.getAttribute('data-watch-url');
    const poll = async () => {
      const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!response.ok) return;
      const { item } = await response.json();
      for (const badge of el.querySelectorAll('[data-watch-status]')) setBadge(badge, item.status);
      if (PENDING.has(item.status)) setTimeout(poll, 500);
    };
    if (PENDING.has(el.getAttribute('data-status') || '')) setTimeout(poll, 300);
  }

  // Forms that ask first (bulk freeze and run, skips).
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
