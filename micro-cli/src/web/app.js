// micro dashboard: lists services, instances and endpoints with live stats, and calls endpoints
// through the gateway that served this page. No dependencies; every value from a service is
// inserted as text, never as HTML.
'use strict';
(() => {
  const REFRESH_MS = 3000;
  const base = new URL('..', location.href); // the page is /ui/, the API is one level up
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const state = {
    services: [],
    stats: [],
    selected: params.get('service'),
    detail: null,
    endpoint: null,
  };

  let token = params.get('token') ?? localStorage.getItem('micro.token') ?? '';
  $('token').value = token;
  $('token').addEventListener('change', () => {
    token = $('token').value.trim();
    localStorage.setItem('micro.token', token);
    refresh();
  });

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-')) node.setAttribute(k, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node[k] = v;
    }
    for (const c of children) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const started = performance.now();
    const resp = await fetch(new URL(path, base), { method, headers, body });
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    return { ok: resp.ok, status: resp.status, statusText: resp.statusText, data, ms: performance.now() - started };
  }

  function errorLine(resp) {
    const e = resp.data;
    if (e && typeof e === 'object' && 'code' in e) {
      return `${e.code} ${e.status || ''}${e.detail ? ': ' + e.detail : ''}`;
    }
    return `${resp.status} ${resp.statusText}`;
  }

  function setStatus(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('error', !!bad);
  }

  function uptime(secs) {
    if (secs === null || secs === undefined) return '–';
    const d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600);
    const m = Math.floor(secs % 3600 / 60), s = secs % 60;
    return d ? `${d}d${h}h` : h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`;
  }

  function plural(n, word) {
    return `${n} ${word}${n === 1 ? '' : 's'}`;
  }

  function nanos(ns) {
    if (ns < 1e3) return `${ns}ns`;
    if (ns < 1e6) return `${(ns / 1e3).toFixed(0)}µs`;
    if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
    return `${(ns / 1e9).toFixed(2)}s`;
  }

  function renderServices() {
    const list = $('services');
    list.replaceChildren(...state.services.map((s) => el('li', {
      'data-service': s.name,
      class: s.name === state.selected ? 'selected' : '',
      onclick: () => selectService(s.name),
    },
    el('div', { class: 'name' }, s.name),
    el('small', {}, `${s.versions.join(', ')} · ${plural(s.instances, 'instance')} · ${plural(s.endpoints, 'endpoint')}`))));
    $('no-services').hidden = state.services.length > 0;
  }

  function endpointStats(service, endpoint) {
    let requests = 0, errors = 0, time = 0;
    for (const inst of state.stats.filter((s) => s.name === service)) {
      for (const e of inst.endpoints.filter((e) => e.name === endpoint)) {
        requests += e.num_requests; errors += e.num_errors; time += e.processing_time;
      }
    }
    return { requests, errors, avg: requests ? Math.floor(time / requests) : 0 };
  }

  function renderDetail() {
    const d = state.detail;
    $('pick').hidden = !!d;
    $('service').hidden = !d;
    if (!d) return;
    $('service-name').textContent = d.name;
    $('service-versions').textContent = d.versions.join(', ');
    $('service-description').textContent = d.description || '';
    $('instances').tBodies[0].replaceChildren(...d.instances.map((i) => el('tr', { 'data-instance': i.id },
      el('td', { class: 'mono' }, i.id),
      el('td', {}, i.version),
      el('td', {}, uptime(i.uptime_secs)),
      el('td', { class: 'mono' }, Object.entries(i.metadata || {}).map(([k, v]) => `${k}=${v}`).join(', ')))));
    $('endpoints').replaceChildren(...d.endpoints.map((e) => {
      const st = endpointStats(d.name, e.name);
      return el('div', { class: 'endpoint' + (state.endpoint && state.endpoint.name === e.name ? ' selected' : ''), 'data-endpoint': e.name },
        el('div', { class: 'head' },
          el('code', {}, e.name),
          el('small', {}, `subject ${e.subject}`),
          el('span', { class: 'stats', 'data-requests': st.requests }, `${plural(st.requests, 'request')} · ${plural(st.errors, 'error')} · avg ${nanos(st.avg)}`),
          el('button', { type: 'button', class: 'secondary try', onclick: () => selectEndpoint(e.name) }, 'Try')),
        e.doc ? el('div', { class: 'doc' }, e.doc) : null,
        shape(e));
    }));
  }

  // The request and reply of an endpoint: their fields from the JSON Schemas in INFO, or the
  // bare shapes a service without schemas announces.
  function shape(e) {
    if (!e.request_schema && !e.response_schema) {
      return el('div', { class: 'muted' }, el('code', {}, `${JSON.stringify(e.request ?? {})} → ${e.response ?? '?'}`));
    }
    const fields = (list) => el('ul', { class: 'fields' }, ...list.map((f) => el('li', { 'data-field': f.name },
      el('code', {}, f.name), ': ', el('span', { class: 'mono' }, f.type), f.required ? ' (required)' : '',
      f.description ? el('span', { class: 'muted' }, ' — ' + f.description) : null)));
    return el('div', { class: 'shape' },
      el('div', { class: 'muted' }, 'request', e.request_fields.length ? null : el('code', {}, ' {}')),
      e.request_fields.length ? fields(e.request_fields) : null,
      el('div', { class: 'muted' }, 'response ', el('code', {}, e.response_type ?? '?')),
      e.response_fields.length ? fields(e.response_fields) : null);
  }

  async function loadService(name) {
    const resp = await request('GET', 'services/' + encodeURIComponent(name));
    if (resp.ok) {
      state.detail = resp.data;
    } else {
      state.detail = null;
      $('pick').textContent = `${name}: ${errorLine(resp)}`;
    }
    renderDetail();
  }

  async function refresh() {
    try {
      const [services, stats] = await Promise.all([request('GET', 'services'), request('GET', 'stats')]);
      if (!services.ok) {
        setStatus(services.status === 401 ? 'unauthorized: enter the gateway token' : errorLine(services), true);
        return;
      }
      state.services = services.data;
      state.stats = stats.ok ? stats.data : [];
      renderServices();
      if (state.selected) await loadService(state.selected);
      setStatus('updated ' + new Date().toLocaleTimeString());
    } catch (err) {
      setStatus('gateway unreachable: ' + err, true);
    }
  }

  async function selectService(name) {
    if (state.selected !== name) {
      state.endpoint = null;
      $('call').hidden = true;
      $('pick-endpoint').hidden = false;
    }
    state.selected = name;
    renderServices();
    await loadService(name);
  }

  function selectEndpoint(name) {
    const d = state.detail;
    const e = d && d.endpoints.find((x) => x.name === name);
    if (!e) return false;
    state.endpoint = e;
    $('call').hidden = false;
    $('pick-endpoint').hidden = true;
    $('call').dataset.service = d.name;
    $('call').dataset.endpoint = e.name;
    $('call-target').textContent = `${d.name}.${e.name}`;
    $('call-shape').replaceChildren(shape(e));
    $('body').value = JSON.stringify(e.example ?? {}, null, 2);
    $('result').hidden = true;
    $('call-status').textContent = '';
    renderDetail();
    return true;
  }

  function showResult(ok, text, status) {
    const out = $('result');
    out.hidden = false;
    out.className = ok ? 'ok' : 'error';
    out.textContent = text;
    $('call-status').textContent = status;
    document.body.dataset.lastCall = ok ? 'ok' : 'error';
  }

  // A server stream, read as the gateway sends it (one JSON text per line): each item is shown
  // as it arrives; an `{"error": ...}` line ends the stream with that error.
  async function stream(path, body) {
    const headers = { Accept: 'application/x-ndjson', 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const started = performance.now();
    const resp = await fetch(new URL(path, base), { method: 'POST', headers, body });
    if (!resp.ok) {
      const text = await resp.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch { data = text; }
      const failed = { status: resp.status, statusText: resp.statusText, data };
      showResult(false, errorLine(failed) + '\n\n' + JSON.stringify(data, null, 2), `${resp.status} ${resp.statusText}`);
      return;
    }
    const items = [];
    let error = null;
    const show = (done) => {
      const ms = (performance.now() - started).toFixed(0);
      const lines = items.map((item) => JSON.stringify(item));
      if (error) lines.push('', errorLine({ data: error }), JSON.stringify(error, null, 2));
      const what = done ? (error ? 'stream failed' : 'stream complete') : 'streaming';
      showResult(!error, lines.join('\n'), `${plural(items.length, 'item')} · ${what} · ${ms} ms`);
      $('result').dataset.items = String(items.length);
      $('result').dataset.stream = done ? (error ? 'error' : 'complete') : 'open';
    };
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      buffered += decoder.decode(value || new Uint8Array(), { stream: !done });
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!line.trim()) continue;
        const parsed = JSON.parse(line);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'error' in parsed && Object.keys(parsed).length === 1) {
          error = parsed.error;
        } else {
          items.push(parsed);
        }
      }
      if (done) break;
      show(false);
    }
    show(true);
  }

  async function send(ev) {
    ev.preventDefault();
    const form = $('call');
    const service = form.dataset.service, endpoint = form.dataset.endpoint;
    if (!service || !endpoint) return;
    const text = $('body').value;
    try {
      if (text.trim()) JSON.parse(text);
    } catch (err) {
      showResult(false, 'invalid JSON: ' + err.message, 'not sent');
      return;
    }
    const kind = (state.endpoint && state.endpoint.metadata && state.endpoint.metadata.kind) || 'unary';
    if (kind === 'client_stream' || kind === 'bidirectional') {
      showResult(false, `${service}.${endpoint} takes a stream of items (${kind}): call it from code`, 'not sent');
      return;
    }
    $('send').disabled = true;
    if (kind === 'server_stream') {
      try {
        await stream(`${encodeURIComponent(service)}/${encodeURIComponent(endpoint)}`, text);
      } catch (err) {
        showResult(false, 'request failed: ' + err, 'failed');
      } finally {
        $('send').disabled = false;
      }
      refresh();
      return;
    }
    try {
      const resp = await request('POST', `${encodeURIComponent(service)}/${encodeURIComponent(endpoint)}`, text);
      const status = `${resp.status} ${resp.statusText} · ${resp.ms.toFixed(0)} ms`;
      if (resp.ok) {
        showResult(true, JSON.stringify(resp.data, null, 2), status);
      } else {
        showResult(false, errorLine(resp) + '\n\n' + JSON.stringify(resp.data, null, 2), status);
      }
    } catch (err) {
      showResult(false, 'request failed: ' + err, 'failed');
    } finally {
      $('send').disabled = false;
    }
    refresh();
  }
  $('call').addEventListener('submit', send);

  // Links such as ?service=greeter&endpoint=hello&body={..}&send=1 open (and run) a call.
  async function start() {
    await refresh();
    const endpoint = params.get('endpoint');
    if (state.selected && endpoint) {
      await loadService(state.selected);
      if (selectEndpoint(endpoint)) {
        if (params.has('body')) $('body').value = params.get('body');
        if (params.get('send') === '1') $('send').click();
      }
    }
    setInterval(refresh, REFRESH_MS);
  }
  start();
})();
