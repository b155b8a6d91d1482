// baton's status page. No framework: it reads the status document once (GET /v1/status),
// then follows its changes (GET /v1/events, Server-Sent Events) from the id the document
// came with, and redraws. Every value reaches the page as text (textContent), never as
// markup. When baton stops answering, a banner says so and what is shown is marked stale.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const GATE_REASONS = ['AwaitingConsent', 'WaitingForMaintenanceWindow', 'UpdateLocked', 'HealthSoak'];
  const ROLLBACK_STATES = ['ArtifactRollback', 'ArtifactRollbackReboot', 'ArtifactVerifyRollbackReboot', 'ArtifactFailure'];
  const STALE_MS = 40000; // the daemon sends a heartbeat every 15 s

  let session = null; // {scope, csrf}
  let model = null; // the status document, kept up to date
  let applied = 0; // the newest event id in `model`
  let held = null; // events that arrive while the document is being read
  let source = null;
  let heardAt = 0;
  let lostAt = null;
  let drawTimer = null;
  const drawn = {}; // what each part was last drawn from

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const when = (t) => (t ? new Date(t).toLocaleString() : '');
  const clear = (node) => { while (node.firstChild) node.removeChild(node.firstChild); return node; };

  function showLogin(why) {
    $('system').hidden = true;
    $('login').hidden = false;
    $('login-why').textContent = why || '';
    $('live').textContent = 'Not signed in';
    model = null;
    if (source) { source.close(); source = null; }
    // Nothing of the System stays in the page once the session is gone.
    for (const id of ['conditions', 'components', 'history']) clear($(id).tBodies[0]);
    for (const id of ['gates-body', 'deployment-body', 'action-buttons', 'desired', 'scope', 'action-result']) clear($(id));
    for (const k of Object.keys(drawn)) delete drawn[k];
  }

  function heard() {
    heardAt = Date.now();
    if (lostAt) {
      lostAt = null;
      $('banner').hidden = true;
      $('system').classList.remove('stale');
    }
    $('live').textContent = 'Live';
  }

  function trouble(why) {
    if (!lostAt) lostAt = new Date();
    const b = $('banner');
    b.textContent = 'baton does not answer (since ' + lostAt.toLocaleTimeString() + '): ' +
      (why || 'the connection is lost') + '. What is shown may be out of date; retrying.';
    b.hidden = false;
    $('system').classList.add('stale');
    $('live').textContent = 'Out of date since ' + lostAt.toLocaleTimeString();
  }

  async function call(path, opts) {
    return fetch(path, Object.assign({ credentials: 'same-origin', cache: 'no-store' }, opts));
  }

  async function start() {
    const expired = location.hash === '#login-expired';
    if (expired) history.replaceState(null, '', location.pathname);
    let r;
    try { r = await call('/ui/session'); } catch (e) { showLogin(); trouble(); setTimeout(start, 5000); return; }
    if (r.status === 401 || r.status === 403) {
      showLogin(expired ? 'That login address was already used or has expired.' : '');
      return;
    }
    if (!r.ok) { showLogin(); trouble('baton answered ' + r.status); setTimeout(start, 5000); return; }
    session = await r.json();
    $('login').hidden = true;
    $('system').hidden = false;
    $('scope').textContent = session.scope === 'write'
      ? 'This session may act on the System.'
      : 'This session can only read (baton ui-url --write for one that may act).';
    await load();
  }

  async function sessionEnded() {
    let r = null;
    try { r = await call('/ui/session'); } catch (e) { trouble(); return; }
    if (r.status === 401 || r.status === 403) showLogin('Your session ended (it lasts 8 hours, and a restart of baton ends it).');
  }

  // Reads the whole document; events that arrive meanwhile are applied after it.
  async function load() {
    if (held) return;
    held = [];
    let r;
    try { r = await call('/v1/status'); } catch (e) { held = null; trouble(); setTimeout(load, 3000); return; }
    if (r.status === 401 || r.status === 403) { held = null; sessionEnded(); return; }
    if (!r.ok) { held = null; trouble('baton answered ' + r.status); setTimeout(load, 3000); return; }
    model = await r.json();
    applied = Number(r.headers.get('x-baton-event-id') || 0);
    const later = held;
    held = null;
    later.forEach(take);
    heard();
    draw();
    if (!source) follow(applied);
  }

  function follow(since) {
    source = new EventSource('/v1/events?since=' + since);
    source.onopen = heard;
    source.onmessage = (m) => {
      heard();
      let ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (held) held.push(ev); else { take(ev); soon(); }
    };
    source.addEventListener('heartbeat', heard);
    source.addEventListener('hello', heard);
    // Events were missed (or baton restarted): read the whole document again.
    source.addEventListener('resync', () => { heard(); load(); });
    source.onerror = () => {
      trouble();
      if (source && source.readyState === EventSource.CLOSED) {
        // Refused (the session ended) rather than cut: find out which, then start over.
        source = null;
        sessionEnded().then(() => { if (model) setTimeout(load, 3000); });
      }
    };
  }

  function take(ev) {
    if (!model || ev.id <= applied) return;
    applied = ev.id;
    const c = ev.change || {};
    switch (c.kind) {
      case 'summary':
        for (const k of ['generation', 'observedGeneration', 'desiredManifest', 'suspended', 'failures', 'nextAttemptAt', 'systemVersion', 'conditions']) model[k] = c[k];
        break;
      case 'deployment': model.deployment = c.deployment; break;
      case 'progress': if (model.deployment) progress(model.deployment, c.progress); break;
      case 'components': model.components = c.components; break;
      case 'gate': model.gate = c.gate; model.nextWindowAt = c.nextWindowAt; break;
      case 'finished':
        model.history = [c.entry].concat((model.history || []).filter((h) => h.id !== c.entry.id)).slice(0, 20);
        break;
      case 'settled': break; // the summary and history that come with it show it
      default: setTimeout(load, 0); // a kind this page does not know: read everything
    }
  }

  // The same rules as the daemon's (daemon/status/progress.rs).
  function progress(d, p) {
    const find = (r) => d.components.find((c) => c.componentType === r.componentType && c.id === r.id);
    switch (p.event) {
      case 'started':
        d.id = p.deployment; d.manifest = p.manifest;
        d.components = p.components.map((c) => ({ componentType: c.component.componentType, id: c.component.id,
          orderGroup: c.order, toArtifact: c.toArtifact, state: '', bytes: 0, totalBytes: null }));
        break;
      case 'stepStarted':
        d.state = p.state; d.orderGroup = p.order;
        if (ROLLBACK_STATES.includes(p.state)) d.rollingBack = true;
        for (const r of p.components) { const c = find(r); if (c) c.state = p.state; }
        break;
      case 'bytes': { const c = find(p.component); if (c) { c.bytes = p.bytes; c.totalBytes = p.total; } break; }
      case 'rebooting': d.state = 'Rebooting'; break;
      default: break;
    }
  }

  function soon() { if (!drawTimer) drawTimer = setTimeout(() => { drawTimer = null; draw(); }, 100); }

  // Redraws a part only when its data changed, so focus and open details survive the
  // progress events that change other parts.
  function part(name, data, fn) {
    const key = JSON.stringify(data === undefined ? null : data);
    if (drawn[name] === key) return;
    drawn[name] = key;
    fn(data);
  }

  function draw() {
    if (!model) return;
    const s = model;
    $('desired').textContent = (s.desiredManifest ? 'Desired: ' + s.desiredManifest : 'No Manifest applied yet') +
      ' (generation ' + s.generation + '; the System last matched generation ' + s.observedGeneration + ')' +
      (s.systemVersion ? '. System version ' + s.systemVersion : '') +
      (s.suspended ? '. SUSPENDED: no new deployment starts.' : '') +
      (s.failures ? '. Failed attempts: ' + s.failures + (s.nextAttemptAt ? ', next at ' + when(s.nextAttemptAt) : '') : '');
    part('conditions', s.conditions || [], drawConditions);
    part('gates', { conditions: s.conditions, gate: s.gate, gates: s.gates, scope: session && session.scope }, () => drawGates(s));
    part('actions', { suspended: s.suspended, scope: session && session.scope }, () => drawActions(s));
    part('deployment', s.deployment, drawDeployment);
    part('components', s.components || [], drawComponents);
    part('history', s.history || [], drawHistory);
  }

  function drawConditions(cs) {
    const body = clear($('conditions').tBodies[0]);
    for (const c of cs) {
      body.append(el('tr', { 'data-type': c.type, 'data-status': c.status },
        el('th', { scope: 'row' }, c.type), el('td', { class: c.status + ' ' + c.type }, c.status),
        el('td', {}, c.reason), el('td', {}, c.message), el('td', { class: 'num' }, when(c.lastTransitionTime))));
    }
  }

  // Gates come from the status' `gate` (what the deployment waits for), the conditions'
  // reasons, and a `gates` list when the document has one.
  function drawGates(s) {
    const box = clear($('gates-body'));
    const seen = new Set();
    const gates = [];
    if (s.gate && s.gate.reason) { seen.add(s.gate.reason); gates.push(s.gate); }
    for (const c of s.conditions || []) {
      if (GATE_REASONS.includes(c.reason) && !seen.has(c.reason)) { seen.add(c.reason); gates.push({ reason: c.reason, message: c.message }); }
    }
    for (const g of Array.isArray(s.gates) ? s.gates : []) gates.push(g);
    if (!gates.length) { box.append(el('p', { class: 'muted' }, 'Nothing holds the System.')); return; }
    for (const g of gates) {
      const div = el('div', { class: 'gate', 'data-gate': g.reason || g.kind || '' });
      div.append(el('p', {}, el('strong', { class: 'hold' }, g.reason || g.kind || 'Gate'), g.message ? ': ' + g.message : ''));
      const rest = Object.entries(g).filter(([k]) => !['reason', 'kind', 'message'].includes(k));
      if (rest.length) div.append(el('p', { class: 'muted' }, rest.map(([k, v]) => k + ': ' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(', ')));
      if ((g.reason || g.kind) === 'AwaitingConsent') div.append(consent());
      box.append(div);
    }
  }

  function consent() {
    if (!session || session.scope !== 'write') {
      return el('p', { class: 'muted' }, 'Answering needs a write session (baton ui-url --write).');
    }
    return el('div', { class: 'buttons' },
      el('button', { type: 'button', class: 'approve', onclick: () => act('/v1/consent', 'Approve', { answer: 'approve' }) }, 'Approve'),
      el('button', { type: 'button', class: 'deny', onclick: () => act('/v1/consent', 'Deny', { answer: 'deny' }) }, 'Deny'));
  }

  function drawActions(s) {
    const section = $('actions');
    if (!session || session.scope !== 'write') { section.hidden = true; return; }
    section.hidden = false;
    const box = clear($('action-buttons'));
    const button = (label, path, ask) => el('button', { type: 'button', 'data-action': label.toLowerCase(),
      onclick: () => { if (!ask || window.confirm(ask)) act(path, label); } }, label);
    box.append(s.suspended ? button('Unsuspend', '/v1/actions/resume') : button('Suspend', '/v1/actions/suspend'));
    box.append(button('Retry', '/v1/actions/retry'));
    box.append(button('Revert', '/v1/actions/rollback', 'Make the last good Manifest desired again?'));
  }

  async function act(path, label, body) {
    const out = $('action-result');
    out.textContent = label + '…';
    try {
      const r = await call(path, { method: 'POST', headers: { 'X-Baton-CSRF': session.csrf || '', 'Content-Type': 'application/json' },
        body: body ? JSON.stringify(body) : '' });
      const a = await r.json().catch(() => ({}));
      out.textContent = label + ': ' + (r.ok ? (a.message || 'done') : 'refused: ' + (a.message || r.status) + (a.error ? ' (' + a.error + ')' : ''));
    } catch (e) {
      out.textContent = label + ': baton did not answer';
      trouble();
    }
  }

  function drawDeployment(d) {
    const box = clear($('deployment-body'));
    if (!d) { box.append(el('p', { class: 'muted' }, 'No deployment in flight.')); return; }
    box.append(el('p', { 'data-deployment': d.id },
      'Deploying ', el('strong', {}, d.manifest || '…'), ' (generation ' + d.generation + ', by ' + d.driver + '): ',
      el('strong', {}, d.state || 'starting'), d.orderGroup != null ? ' in order group ' + d.orderGroup : '',
      d.rollingBack ? el('strong', { class: 'no' }, ', rolling back') : ''));
    const groups = [...new Set((d.components || []).map((c) => c.orderGroup))].sort((a, b) => a - b);
    for (const g of groups) {
      box.append(el('h3', {}, 'Order group ' + g));
      const rows = d.components.filter((c) => c.orderGroup === g).map((c) => {
        const pct = c.totalBytes ? Math.floor((c.bytes * 100) / c.totalBytes) : null;
        const bytes = c.totalBytes
          ? el('span', {}, el('progress', { max: c.totalBytes, value: c.bytes, 'aria-label': c.id + ' bytes' }), ' ' + pct + ' %')
          : (c.bytes ? c.bytes.toLocaleString() + ' bytes' : '');
        return el('tr', { 'data-component': c.componentType + '/' + c.id },
          el('th', { scope: 'row' }, c.componentType), el('td', {}, c.id), el('td', {}, c.toArtifact),
          el('td', {}, c.state || 'waiting'), el('td', { class: 'num' }, bytes));
      });
      box.append(el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, ...['Type', 'ID', 'To', 'State', 'Sent'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, ...rows))));
    }
  }

  function drawComponents(cs) {
    const body = clear($('components').tBodies[0]);
    for (const c of cs) {
      const sync = c.error ? el('td', { class: 'no' }, 'error: ' + c.error)
        : el('td', { class: c.inSync ? 'yes' : 'no' }, c.inSync ? 'yes' : 'no');
      body.append(el('tr', { 'data-component': c.componentType + '/' + (c.id || ''), 'data-in-sync': String(c.inSync) },
        el('th', { scope: 'row' }, c.componentType), el('td', {}, c.id || '?'),
        el('td', {}, c.observedArtifact || '-'), el('td', {}, c.desiredArtifact || '-'), sync));
    }
  }

  function drawHistory(h) {
    const body = clear($('history').tBodies[0]);
    for (const e of h) {
      const details = el('details', {}, el('summary', {}, (e.components || []).length + ' components'),
        e.message ? el('p', {}, e.message) : null,
        el('ul', {}, ...(e.components || []).map((c) => el('li', {}, c.componentType + ' ' + c.id + ' → ' + c.toArtifact + ': ' + c.result +
          (c.notes && c.notes.length ? ' (' + c.notes.join('; ') + ')' : '')))));
      body.append(el('tr', { 'data-outcome': e.outcome },
        el('td', { class: 'num' }, e.generation), el('th', { scope: 'row' }, e.manifest), el('td', { class: 'num' }, when(e.startedAt)),
        el('td', { class: 'num' }, e.durationSeconds + ' s'), el('td', { class: e.outcome }, e.outcome),
        el('td', {}, e.reason || ''), el('td', {}, details)));
    }
  }

  setInterval(() => { if (model && Date.now() - heardAt > STALE_MS) trouble('no word from baton for ' + STALE_MS / 1000 + ' s'); }, 5000);
  start();
})();
