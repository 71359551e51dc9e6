// Teduh console: plain DOM, no framework, everything through /api/v1. Text from survivors and
// counselors is only ever set as text (never parsed as HTML). The session lives in
// sessionStorage so closing the tab on a shared computer ends it.
'use strict';

const state = {
  session: sessionStorage.getItem('teduh.session'),
  me: null,
  lang: localStorage.getItem('teduh.lang') || 'id',
  words: {},
  skew: 0, // server clock minus this browser's, from the last case list
  seen: null, // case codes already shown in the queue
  watcher: null,
  onChange: null,
  ticker: null,
};

const $ = (sel) => document.querySelector(sel);

// Builds an element; strings and numbers become text nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function t(key, vars) {
  let text = state.words[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.split(`{$${k}}`).join(String(v));
  return text;
}

async function loadWords() {
  const r = await fetch(`/console/i18n/${state.lang}`);
  state.words = r.ok ? await r.json() : {};
  document.documentElement.lang = state.lang;
}

class Expired extends Error {}

async function api(method, path, body, raw) {
  const headers = { Authorization: `Bearer ${state.session}` };
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') { headers['Content-Type'] = 'text/csv'; payload = body; }
    else { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  }
  const r = await fetch(path, { method, headers, body: payload });
  if (r.status === 401) { signOut(t('session-expired')); throw new Expired(); }
  if (raw) return r;
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const err = new Error((data && data.error && data.error.message) || `HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

const now = () => Date.now() + state.skew;

function since(ms) {
  const mins = Math.max(0, Math.floor((now() - ms) / 60000));
  if (mins < 1) return t('just-now');
  if (mins < 60) return t('minutes-ago', { n: mins });
  const hours = Math.floor(mins / 60);
  if (hours < 48) return t('hours-ago', { h: hours, m: mins % 60 });
  return t('days-ago', { n: Math.floor(hours / 24) });
}

function when(ms) {
  return new Date(ms).toLocaleString(state.lang === 'id' ? 'id-ID' : 'en-GB',
    { dateStyle: 'medium', timeStyle: 'short' });
}

function announce(text) {
  const el = $('#announce');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 50);
}

function badge(kind, text) {
  return h('span', { class: `badge ${kind}` }, text);
}

function status(s) { return badge(s, t(`status-${s}`)); }

function message(el, text, cls) {
  el.replaceChildren(text ? h('p', { class: cls || 'error', role: 'status' }, text) : '');
}

// ---- session -------------------------------------------------------------------------------

function stopWatching() {
  if (state.watcher) state.watcher.abort();
  state.watcher = null;
  if (state.ticker) clearInterval(state.ticker);
  state.ticker = null;
}

function signOut(why) {
  const old = state.session;
  state.session = null;
  state.me = null;
  state.seen = null;
  sessionStorage.removeItem('teduh.session');
  stopWatching();
  if (old && !why) {
    fetch('/api/v1/session', { method: 'DELETE', headers: { Authorization: `Bearer ${old}` } }).catch(() => {});
  }
  location.hash = '#/login';
  renderLogin(why);
}

function renderLogin(why) {
  chrome();
  let mode = 'password';
  const out = h('div');
  const fields = h('div');
  const drawFields = () => {
    fields.replaceChildren(...(mode === 'password'
      ? [h('label', { for: 'name' }, t('name')), h('input', { id: 'name', name: 'name', autocomplete: 'username', required: true }),
        h('label', { for: 'password' }, t('password')),
        h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true })]
      : [h('label', { for: 'token' }, t('api-token')),
        h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true })]));
    fields.querySelector('input').focus();
  };
  const tab = (m, label) => h('button', { type: 'button', role: 'tab', 'aria-selected': String(mode === m),
    onclick: (e) => { mode = m; for (const b of e.target.parentNode.children) b.setAttribute('aria-selected', String(b === e.target)); drawFields(); } }, label);
  const form = h('form', { class: 'card login', onsubmit: async (e) => {
    e.preventDefault();
    const body = mode === 'password'
      ? { name: form.querySelector('#name').value.trim(), password: form.querySelector('#password').value }
      : { token: form.querySelector('#token').value.trim() };
    const r = await fetch('/api/v1/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (r.status !== 201) { message(out, t('login-failed')); return; }
    const data = await r.json();
    state.session = data.session;
    state.me = data.user;
    sessionStorage.setItem('teduh.session', data.session);
    location.hash = '#/queue';
  } },
  h('h1', {}, t('login-title')),
  h('div', { class: 'tabs', role: 'tablist' }, tab('password', t('with-password')), tab('token', t('with-token'))),
  fields, h('p', {}, h('button', { type: 'submit', id: 'login' }, t('login'))), out);
  $('#main').replaceChildren(form);
  drawFields();
  if (why) message(out, why);
}

function chrome(active) {
  const signedIn = Boolean(state.me);
  const links = signedIn ? [['queue', t('nav-queue'), 'q'], ['roster', t('nav-roster'), 'o'], ['reports', t('nav-reports'), 'r']] : [];
  $('#nav').replaceChildren(...links.map(([id, label, key]) => h('a', { href: `#/${id}`, id: `nav-${id}`,
    'aria-current': active === id ? 'page' : null, 'aria-keyshortcuts': key, title: `${label} (${key})` }, label)));
  $('#who').textContent = signedIn ? `${state.me.name} · ${t(`role-${state.me.role}`)}` : '';
  const logout = $('#logout');
  logout.hidden = !signedIn;
  logout.textContent = t('logout');
  $('#lang').textContent = state.lang === 'id' ? 'English' : 'Bahasa Indonesia';
}

// Follows /api/v1/events (a fetch stream: EventSource cannot send the token) and calls the
// current page's onChange for every change; reconnects after each stream ends.
function watch() {
  if (state.watcher) return;
  const controller = new AbortController();
  state.watcher = controller;
  (async () => {
    while (!controller.signal.aborted && state.session) {
      try {
        const r = await fetch('/api/v1/events', { headers: { Authorization: `Bearer ${state.session}` }, signal: controller.signal });
        if (r.status === 401) { signOut(t('session-expired')); return; }
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (/^event: cases$/m.test(block) && state.onChange) state.onChange();
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
      }
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  })();
}

// ---- queue ---------------------------------------------------------------------------------

function canAccept(c) {
  return state.me.counselor_id && !c.accepted_by && c.status !== 'closed' && c.provider_id === state.me.provider_id;
}

async function accept(code, out) {
  try {
    await api('POST', `/api/v1/cases/${encodeURIComponent(code)}/accept`);
    location.hash = `#/case/${code}`;
  } catch (e) {
    if (!(e instanceof Expired)) message(out, e.message);
  }
}

async function renderQueue() {
  chrome('queue');
  const out = h('div');
  const body = h('tbody');
  const table = h('table', { id: 'queue' },
    h('thead', {}, h('tr', {}, h('th', {}, t('case')), h('th', {}, t('status')), h('th', {}, t('level')),
      h('th', {}, t('reported')), h('th', { class: 'wide' }, t('kind')), h('th', { class: 'wide' }, t('holder')), h('th', {}, ''))),
    body);
  $('#main').replaceChildren(h('h1', {}, t('queue-title')), out, table,
    h('p', { class: 'muted keys' }, t('keys-help')));
  const draw = async () => {
    let list;
    try { list = await api('GET', '/api/v1/cases?status=open&limit=200'); } catch (e) {
      if (!(e instanceof Expired)) message(out, e.message);
      return;
    }
    state.skew = list.now - Date.now();
    const cases = list.cases.slice().sort((a, b) =>
      (a.priority === 'urgent' ? 0 : 1) - (b.priority === 'urgent' ? 0 : 1) || a.created_at - b.created_at);
    const first = state.seen === null;
    const seen = state.seen || new Set();
    const fresh = cases.filter((c) => !seen.has(c.code));
    state.seen = new Set(cases.map((c) => c.code));
    body.replaceChildren(...(cases.length ? cases.map((c) => {
      const isNew = !first && fresh.includes(c);
      return h('tr', { class: [c.priority === 'urgent' ? 'urgent' : '', isNew ? 'fresh' : ''].join(' ').trim() || null, 'data-code': c.code },
        h('td', {}, h('a', { href: `#/case/${c.code}` }, c.code), ' ', c.priority === 'urgent' ? badge('urgent', t('urgent')) : ''),
        h('td', {}, status(c.status)),
        h('td', {}, c.level ? t('level-n', { n: c.level }) : '–'),
        h('td', {}, h('span', { 'data-since': c.created_at }, since(c.created_at))),
        h('td', { class: 'wide' }, c.category || '–'),
        h('td', { class: 'wide' }, c.accepted_by || '–'),
        h('td', {}, canAccept(c) ? h('button', { type: 'button', class: 'accept', onclick: () => accept(c.code, out) }, t('accept')) : ''));
    }) : [h('tr', {}, h('td', { colspan: 7, class: 'muted' }, t('queue-empty')))]));
    const urgent = fresh.filter((c) => c.priority === 'urgent');
    if (!first && urgent.length) {
      announce(t('new-urgent', { code: urgent.map((c) => c.code).join(', ') }));
      document.title = `(!) ${t('new-urgent-short')} · Teduh`;
    }
  };
  state.onChange = draw;
  state.ticker = setInterval(() => {
    for (const el of document.querySelectorAll('[data-since]')) el.textContent = since(Number(el.dataset.since));
  }, 15000);
  await draw();
  watch();
}

// ---- one case ------------------------------------------------------------------------------

const KINDS = ['fisik', 'psikis', 'seksual', 'eksploitasi', 'trafficking', 'penelantaran', 'lainnya'];
const AGES = ['0-5', '6-12', '13-17', '18-24', '25-44', '45-59', '60+'];

function fieldValue(c, key) {
  const f = c.fields && c.fields[key];
  return f && typeof f === 'object' && 'value' in f ? String(f.value) : '';
}

async function renderCase(code) {
  chrome('queue');
  document.title = `${code} · Teduh`;
  const path = `/api/v1/cases/${encodeURIComponent(code)}`;
  const out = h('div');
  const top = h('div');
  const messages = h('div', { class: 'messages', id: 'messages', 'aria-live': 'polite' });
  const timeline = h('ul', { class: 'timeline' });
  let draw = async () => {};
  const act = async (fn, done) => {
    try { await fn(); if (done) message(out, done, 'notice'); await draw(true); } catch (e) { if (!(e instanceof Expired)) message(out, e.message); }
  };
  // What she types lives in elements made once: a live update redraws around them, never
  // over a half-written reply.
  const box = h('textarea', { id: 'reply', 'aria-label': t('reply'), placeholder: t('reply-placeholder'), maxlength: 4096 });
  const send = () => {
    const text = box.value.trim();
    if (text) act(async () => { await api('POST', `${path}/messages`, { text }); box.value = ''; }, t('sent'));
  };
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); } });
  const replyArea = h('div', { hidden: true }, box, h('div', { class: 'row' },
    h('button', { type: 'button', id: 'send', onclick: send }, t('send')), h('span', { class: 'muted keys' }, t('send-keys'))));
  const talk = h('div', { class: 'card' }, h('h2', {}, t('conversation')), messages, replyArea);

  const select = (id, values) => h('select', { id }, h('option', { value: '' }, '–'), ...values.map((v) => h('option', { value: v }, v)));
  const kind = select('f-kind', KINDS);
  const age = select('f-age', AGES);
  const relationship = h('input', { id: 'f-relationship', maxlength: 60 });
  const place = h('input', { id: 'f-place', maxlength: 60 });
  const inputs = [['kind', 'violence_kind', kind], ['age_group', 'age_group', age], ['relationship', 'relationship', relationship], ['place', 'place', place]];
  const fieldsForm = h('form', { class: 'form', onsubmit: (e) => {
    e.preventDefault();
    const fields = {};
    for (const [key, , el] of inputs) if (el.value.trim()) fields[key] = el.value.trim();
    if (Object.keys(fields).length) act(() => api('PATCH', `${path}/fields`, { fields }), t('saved'));
  } },
  h('label', { for: 'f-kind' }, t('field-kind')), kind, h('label', { for: 'f-age' }, t('field-age')), age,
  h('label', { for: 'f-relationship' }, t('field-relationship')), relationship,
  h('label', { for: 'f-place' }, t('field-place')), place,
  h('p', {}, h('button', { type: 'submit', id: 'save-fields' }, t('save'))));
  const note = h('textarea', { id: 'note', 'aria-label': t('note'), maxlength: 4096 });
  const target = h('input', { id: 'transfer-to', placeholder: t('transfer-placeholder') });
  const transferCard = h('div', { class: 'card', hidden: true }, h('h2', {}, t('transfer')), target,
    h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => {
      const to = target.value.trim();
      if (to) act(async () => { await api('POST', `${path}/transfer`, { to }); target.value = ''; }, t('transferred'));
    } }, t('transfer'))));
  const side = h('div',
    {}, h('div', { class: 'card' }, h('h2', {}, t('record')), fieldsForm),
    h('div', { class: 'card' }, h('h2', {}, t('note')), note, h('p', {}, h('button', { type: 'button', id: 'add-note', onclick: () => {
      const text = note.value.trim();
      if (text) act(async () => { await api('POST', `${path}/notes`, { text }); note.value = ''; }, t('saved'));
    } }, t('add-note')))),
    transferCard,
    h('div', { class: 'card' }, h('h2', {}, t('timeline')), timeline));
  $('#main').replaceChildren(h('p', {}, h('a', { href: '#/queue' }, `← ${t('back-to-queue')}`)), out, top, h('div', { class: 'grid' }, talk, side));

  let first = true;
  let running = null;
  let again = false;
  const drawOnce = async () => {
    let detail;
    try { detail = await api('GET', path); } catch (e) {
      if (!(e instanceof Expired)) message(out, e.message);
      return;
    }
    const c = detail.case;
    const mine = Boolean(state.me.counselor_id) && c.accepted_by === state.me.counselor_id;
    const manages = state.me.role === 'admin' || (state.me.role === 'supervisor' && state.me.provider_id === c.provider_id);
    const open = c.status !== 'closed';
    top.replaceChildren(h('div', { class: 'card' },
      h('h1', {}, c.code, ' ', c.priority === 'urgent' ? badge('urgent', t('urgent')) : '', ' ', status(c.status)),
      h('dl', { class: 'facts' },
        h('dt', {}, t('reported')), h('dd', {}, `${when(c.created_at)} (${since(c.created_at)})`),
        h('dt', {}, t('level')), h('dd', {}, c.level ? t('level-n', { n: c.level }) : '–'),
        h('dt', {}, t('kind')), h('dd', {}, c.category || '–'),
        h('dt', {}, t('region')), h('dd', {}, c.region_code || '–'),
        h('dt', {}, t('provider')), h('dd', {}, c.provider_id || '–'),
        h('dt', {}, t('holder')), h('dd', {}, c.accepted_by || '–'),
        h('dt', {}, t('reachable')), h('dd', {}, c.reachable ? t('yes') : t('no')),
        // Only for the counselor holding the case, and only with her consent.
        detail.contact ? [h('dt', {}, t('contact')), h('dd', { id: 'contact' }, t('contact-value', {
          via: detail.contact.via, time: detail.contact.time || '–', number: detail.contact.number || t('contact-no-number') }))] : ''),
      h('div', { class: 'row' },
        canAccept(c) ? h('button', { type: 'button', id: 'accept', onclick: () => act(() => api('POST', `${path}/accept`), t('accepted')) }, t('accept')) : '',
        open && (mine || manages) ? h('button', { type: 'button', id: 'close', class: 'danger', onclick: () => {
          if (confirm(t('close-confirm', { code: c.code }))) act(() => api('POST', `${path}/close`), t('closed'));
        } }, t('close')) : '')));
    if (state.me.role === 'admin') {
      messages.replaceChildren(h('p', { class: 'muted' }, t('conversation-not-for-admins')));
    } else {
      let transcript = null;
      try { transcript = await api('GET', `${path}/messages`); } catch (e) { if (e instanceof Expired) return; }
      const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
      messages.replaceChildren(...(transcript && transcript.messages.length ? transcript.messages.map((m) => h('div', { class: `msg ${m.sender}` },
        h('time', {}, `${m.sender === 'survivor' ? t('survivor') : (m.author || t('counselor'))} · ${when(m.at)}`),
        m.text === null ? h('em', { class: 'muted' }, t('text-removed')) : m.text)) : [h('p', { class: 'muted' }, t('no-messages'))]));
      if (atBottom || first) messages.scrollTop = messages.scrollHeight;
    }
    replyArea.hidden = !(mine && open && c.reachable);
    transferCard.hidden = !(open && (mine || manages));
    if (first) {
      for (const [, stored, el] of inputs) el.value = fieldValue(c, stored);
      first = false;
    }
    timeline.replaceChildren(...detail.timeline.slice().reverse().map((e) => h('li', {}, h('time', {}, when(e.at)),
      t(`event-${e.kind}`) === `event-${e.kind}` ? e.kind : t(`event-${e.kind}`),
      e.detail ? h('span', { class: 'muted' }, ` — ${e.detail}`) : '')));
  };
  // One draw at a time; a change that arrives meanwhile draws once more after it.
  draw = async () => {
    if (running) { again = true; return running; }
    running = (async () => {
      do { again = false; await drawOnce(); } while (again);
    })();
    try { await running; } finally { running = null; }
  };
  state.onChange = draw;
  await draw();
  watch();
}

// ---- roster --------------------------------------------------------------------------------

async function renderRoster() {
  chrome('roster');
  const out = h('div');
  const view = h('div');
  let providers;
  try { providers = (await api('GET', '/api/v1/providers')).providers; } catch (e) { return; }
  const mine = state.me.role === 'admin' ? providers : providers.filter((p) => p.id === state.me.provider_id);
  const pick = h('select', { id: 'provider', onchange: () => draw() }, ...mine.map((p) => h('option', { value: p.id }, p.name)));
  $('#main').replaceChildren(h('h1', {}, t('roster-title')), h('div', { class: 'row' }, h('label', { for: 'provider' }, t('provider')), pick), out, view);
  const draw = async () => {
    let r;
    try { r = await api('GET', `/api/v1/rosters/${encodeURIComponent(pick.value)}`); } catch (e) {
      if (!(e instanceof Expired)) message(out, e.message);
      return;
    }
    // The provider's own clock, as its roster is written.
    const offset = { WIB: 7, WITA: 8, WIT: 9 }[r.provider.tz] || 7;
    const time = (ms) => new Date(ms + offset * 3600000).toISOString().slice(11, 16);
    const manages = state.me.role === 'admin' || (state.me.role === 'supervisor' && state.me.provider_id === r.provider.id);
    const csv = h('textarea', { id: 'roster-csv', rows: 12, spellcheck: 'false' });
    csv.value = r.csv;
    view.replaceChildren(
      h('div', { class: 'card' }, h('h2', {}, t('on-call-now')), r.on_call.length
        ? h('table', { id: 'on-call' }, h('tbody', {}, ...r.on_call.map((o) => h('tr', {}, h('td', {}, o.name), h('td', {}, t(`shift-${o.role}`)), h('td', {}, t('until', { time: time(o.until) }))))))
        : h('p', { class: 'error' }, t('nobody-on-call'))),
      h('div', { class: 'card' }, h('h2', {}, t('this-week', { tz: r.provider.tz })), h('table', { id: 'week' },
        h('tbody', {}, ...r.week.map((d) => h('tr', {}, h('th', {}, `${t(`day-${d.weekday}`)} ${d.date}`),
          h('td', {}, d.shifts.length ? d.shifts.map((s) => h('div', {}, `${s.start}–${s.end} ${s.name} (${t(`shift-${s.role}`)})`)) : h('span', { class: 'muted' }, '–'))))))),
      manages ? h('div', { class: 'card' }, h('h2', {}, t('edit-shifts')), h('p', { class: 'muted' }, t('roster-help')), csv,
        h('p', {}, h('button', { type: 'button', id: 'save-roster', onclick: async () => {
          try { await api('PUT', `/api/v1/rosters/${encodeURIComponent(r.provider.id)}`, csv.value); message(out, t('saved'), 'notice'); await draw(); } catch (e) { if (!(e instanceof Expired)) message(out, e.message); }
        } }, t('save')))) : '');
  };
  state.onChange = null;
  if (mine.length) await draw(); else message(out, t('no-provider'));
}

// ---- reports -------------------------------------------------------------------------------

// Horizontal bars: rows of [label, [value, colour]...], values in the same unit.
function bars(rows, unit) {
  const max = Math.max(1, ...rows.flatMap(([, vs]) => vs.map(([v]) => v || 0)));
  const barH = 14;
  const rowH = 8 + barH * Math.max(1, ...rows.map(([, vs]) => vs.length));
  const width = 640;
  const left = 200;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', `0 0 ${width} ${Math.max(rowH, rows.length * rowH)}`);
  svg.setAttribute('role', 'img');
  const el = (name, attrs, text) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  rows.forEach(([label, values], i) => {
    const y = i * rowH + 4;
    el('text', { x: 0, y: y + barH - 3 }, label.length > 28 ? `${label.slice(0, 27)}…` : label);
    values.forEach(([v, colour, name], j) => {
      const w = ((v || 0) / max) * (width - left - 90);
      el('rect', { x: left, y: y + j * barH, width: Math.max(1, w), height: barH - 2, fill: colour });
      el('text', { x: left + w + 4, y: y + j * barH + barH - 4 }, v === null || v === undefined ? '–' : `${name ? `${name} ` : ''}${v}${unit}`);
    });
  });
  return svg;
}

async function download(path, name) {
  const r = await api('GET', path, undefined, true);
  const url = URL.createObjectURL(await r.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

async function renderReports() {
  chrome('reports');
  const out = h('div');
  const view = h('div');
  const today = new Date();
  const iso = (d) => d.toISOString().slice(0, 10);
  const from = h('input', { id: 'from', type: 'date', value: iso(new Date(today.getFullYear(), today.getMonth() - 2, 1)) });
  const to = h('input', { id: 'to', type: 'date', value: iso(today) });
  const tz = h('select', { id: 'tz' }, ...['WIB', 'WITA', 'WIT'].map((z) => h('option', { value: z }, z)));
  $('#main').replaceChildren(h('h1', {}, t('reports-title')), h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); draw(); } },
    h('label', { for: 'from' }, t('from')), from, h('label', { for: 'to' }, t('to')), to, tz, h('button', { type: 'submit' }, t('show'))), out, view);
  const draw = async () => {
    const q = `from=${from.value}&to=${to.value}&tz=${tz.value}`;
    let times, cases, scores;
    try {
      [times, cases, scores] = await Promise.all(['response-times', 'cases', 'satisfaction'].map((r) => api('GET', `/api/v1/reports/${r}?${q}`)));
    } catch (e) {
      if (!(e instanceof Expired)) message(out, e.status === 403 ? t('reports-forbidden') : e.message);
      view.replaceChildren();
      return;
    }
    message(out, '');
    const minutes = (ms) => (ms === null ? null : Math.round(ms / 6000) / 10);
    const perKind = new Map();
    for (const r of cases.rows) {
      const key = `${r.month} ${r.kind}`;
      perKind.set(key, (perKind.get(key) || 0) + r.cases);
    }
    const csv = (r) => h('button', { type: 'button', class: 'secondary', onclick: () => download(`/api/v1/reports/${r}?${q}&format=csv`, `teduh-${r}-${from.value}-${to.value}.csv`) }, t('csv'));
    view.replaceChildren(
      h('div', { class: 'card', id: 'report-times' }, h('h2', {}, t('report-times')), times.rows.length
        ? bars(times.rows.map((r) => [`${r.provider} (${r.accepted}/${r.cases})`, [[minutes(r.p50_ms), '#1f5fa8', 'p50'], [minutes(r.p90_ms), '#8fb3de', 'p90']]]), ` ${t('min')}`)
        : h('p', { class: 'muted' }, t('no-data')), csv('response-times')),
      h('div', { class: 'card', id: 'report-cases' }, h('h2', {}, t('report-cases')), perKind.size
        ? bars([...perKind.entries()].map(([k, n]) => [k, [[n, '#b3261e']]]), '')
        : h('p', { class: 'muted' }, t('no-data')), csv('cases')),
      h('div', { class: 'card', id: 'report-satisfaction' }, h('h2', {}, t('report-satisfaction')), scores.rows.length
        ? bars(scores.rows.map((r) => [`${r.provider} (${r.responses})`, [[r.mean === null ? null : Math.round(r.mean * 100) / 100, '#1e7a3c', t('mean')]]]), ' / 5')
        : h('p', { class: 'muted' }, t('no-data')), csv('satisfaction')));
  };
  state.onChange = null;
  await draw();
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  stopWatching();
  state.onChange = null;
  document.title = 'Teduh';
  if (!state.session) return renderLogin();
  if (!state.me) {
    try { state.me = await api('GET', '/api/v1/me'); } catch (e) { return; }
  }
  const [, page, arg] = location.hash.split('/');
  try {
    if (page === 'case' && arg) await renderCase(decodeURIComponent(arg));
    else if (page === 'roster') await renderRoster();
    else if (page === 'reports') await renderReports();
    else if (page === 'queue') await renderQueue();
    else location.hash = '#/queue';
  } catch (e) {
    if (!(e instanceof Expired)) message($('#main'), e.message);
  }
}

document.addEventListener('keydown', (e) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement && document.activeElement.tagName);
  if (typing || e.ctrlKey || e.metaKey || e.altKey || !state.me) return;
  const go = { q: '#/queue', o: '#/roster', r: '#/reports' }[e.key];
  if (go) { location.hash = go; e.preventDefault(); }
  if (e.key === 'a' && location.hash === '#/queue') {
    const first = document.querySelector('#queue button.accept');
    if (first) { first.click(); e.preventDefault(); }
  }
});

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', async () => {
  $('#logout').addEventListener('click', () => signOut());
  $('#lang').addEventListener('click', async () => {
    state.lang = state.lang === 'id' ? 'en' : 'id';
    localStorage.setItem('teduh.lang', state.lang);
    await loadWords();
    route();
  });
  await loadWords();
  route();
});
