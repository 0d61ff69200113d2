import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html, query, SafeHtml, when } from './html.js';

describe('html templates', () => {
  it('escape every interpolated value, in text and attributes', () => {
    const hostile = `<script>alert('x')</script>" onmouseover="x\`&`;
    const out = html`<p title="${hostile}">${hostile}</p>`.text;
    assert.equal(out, `<p title="${escapeHtml(hostile)}">${escapeHtml(hostile)}</p>`);
    assert.doesNotMatch(out, /<script>|" onmouseover=/);
    assert.equal(escapeHtml(`&<>"'\``), '&amp;&lt;&gt;&quot;&#39;&#96;');
  });

  it('nest templates without escaping them twice, join arrays, and render nothing for null, undefined and false', () => {
    const inner = html`<b>${'<i>'}</b>`;
    assert.ok(inner instanceof SafeHtml);
    assert.equal(html`<p>${inner}${[html`<br>`, '<br>']}${null}${undefined}${false}${0}</p>`.text, '<p><b>&lt;i&gt;</b><br>&lt;br&gt;0</p>');
  });

  it('build query strings with every value encoded, and short times', () => {
    assert.equal(query({ a: 'x y&z', b: undefined, c: null, d: '', e: 3 }), '?a=x+y%26z&e=3');
    assert.equal(query({}), '');
    assert.equal(when(new Date('2024-05-01T12:00:03.456Z')), '2024-05-01 12:00:03Z');
    assert.equal(when(null), '—');
  });
});
