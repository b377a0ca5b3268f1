// micro dashboard: lists services, instances and endpoints with live stats and charts, calls
// endpoints through the gateway that served this page (a form built from the request schema),
// and watches events. No dependencies. Everything a service says (names, docs, metadata,
// errors, events) is inserted as text nodes, never as HTML: the Markdown of docs is rendered
// by a small renderer below that builds DOM nodes itself.
'use strict';
(() => {
  const params = new URLSearchParams(location.search);
  const REFRESH_MS = Math.max(250, Number(params.get('refresh')) || 3000);
  const HISTORY = 40; // samples kept per instance and endpoint for the charts
  const MAX_EVENTS = 200; // events kept on the page
  const base = new URL('..', location.href); // the page is /ui/, the API is one level up
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const state = {
    services: [],
    stats: [],
    selected: params.get('service'),
    detail: null,
    endpoint: null,
    form: null, // the per-field controls of the endpoint picked
  };

  let token = params.get('token') ?? localStorage.getItem('micro.token') ?? '';
  $('token').value = token;
  $('token').addEventListener('change', () => {
    token = $('token').value.trim();
    localStorage.setItem('micro.token', token);
    refresh();
  });

  // ---------------------------------------------------------------------------------------
  // Small helpers

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null) continue;
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'for') node.setAttribute(k, v);
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node[k] = v;
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function authHeaders(headers = {}) {
    if (token) headers.Authorization = 'Bearer ' + token;
    return headers;
  }

  async function request(method, path, body, extra = {}) {
    const headers = authHeaders({ Accept: 'application/json', ...extra });
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const started = performance.now();
    const resp = await fetch(new URL(path, base), { method, headers, body });
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = text; }
    return { ok: resp.ok, status: resp.status, statusText: resp.statusText, headers: resp.headers, data, ms: performance.now() - started };
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

  // STATS' `last_error` is `<code>:<detail>`.
  const errorText = (e) => String(e).replace(/^(\d{3}):\s*/, '$1: ');

  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  function nanos(ns) {
    if (ns === null || ns === undefined || Number.isNaN(ns)) return '–';
    if (ns < 1e3) return `${Math.round(ns)}ns`;
    if (ns < 1e6) return `${(ns / 1e3).toFixed(0)}µs`;
    if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
    return `${(ns / 1e9).toFixed(2)}s`;
  }

  // A word as one shell argument: as it is when it is plainly safe, else in single quotes.
  function shq(s) {
    s = String(s);
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'";
  }

  // ---------------------------------------------------------------------------------------
  // Markdown, the small safe subset docs use: paragraphs, `#` headings, lists, block quotes,
  // fenced code, `code`, **strong**, *emphasis*, [links](https://..) (http, https and mailto
  // only; anything else stays text) and rustdoc's [`Name`] links (as code). Built as DOM nodes
  // from text; HTML in the source is shown as text.

  function safeUrl(href) {
    try {
      const url = new URL(href);
      return ['http:', 'https:', 'mailto:'].includes(url.protocol) ? url.href : null;
    } catch {
      return null;
    }
  }

  const INLINE = /\\([\\`*_[\]()#+\-.!<>])|\[`([^`]+)`\](?!\()|`([^`]+)`|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s](?:[^*]*[^*\s])?)\*|(?<![A-Za-z0-9])_([^_\s](?:[^_]*[^_\s])?)_(?![A-Za-z0-9])|\[([^\]]+)\]\(([^()\s]+)\)/g;

  function inline(text, depth = 0) {
    const out = [];
    let last = 0;
    INLINE.lastIndex = 0;
    const matches = [...String(text).matchAll(INLINE)];
    for (const m of matches) {
      if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
      last = m.index + m[0].length;
      const [, escaped, docLink, code, strong, strong2, em, em2, label, href] = m;
      const inner = (s) => (depth < 4 ? inline(s, depth + 1) : [document.createTextNode(s)]);
      if (escaped !== undefined) out.push(document.createTextNode(escaped));
      else if (docLink !== undefined) out.push(el('code', {}, docLink));
      else if (code !== undefined) out.push(el('code', {}, code));
      else if (strong !== undefined || strong2 !== undefined) out.push(el('strong', {}, inner(strong ?? strong2)));
      else if (em !== undefined || em2 !== undefined) out.push(el('em', {}, inner(em ?? em2)));
      else if (label !== undefined) {
        const url = safeUrl(href);
        out.push(url ? el('a', { href: url, rel: 'noopener noreferrer nofollow', target: '_blank' }, inner(label)) : document.createTextNode(m[0]));
      }
    }
    if (last < text.length) out.push(document.createTextNode(text.slice(last)));
    return out;
  }

  function markdown(source) {
    const root = el('div', { class: 'markdown' });
    const lines = String(source ?? '').replace(/\r\n?/g, '\n').split('\n');
    let i = 0;
    let para = [];
    const flush = () => {
      if (para.length) root.append(el('p', {}, inline(para.join(' '))));
      para = [];
    };
    const listItem = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
    while (i < lines.length) {
      const line = lines[i];
      const fence = line.match(/^\s{0,3}(```|~~~)/);
      if (fence) {
        flush();
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
        i++;
        root.append(el('pre', {}, el('code', {}, body.join('\n'))));
        continue;
      }
      if (!line.trim()) { flush(); i++; continue; }
      const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
      if (heading) {
        flush();
        const level = Math.min(6, heading[1].length + 3);
        root.append(el('h' + level, {}, inline(heading[2])));
        i++;
        continue;
      }
      if (/^\s{0,3}>/.test(line)) {
        flush();
        const quoted = [];
        while (i < lines.length && /^\s{0,3}>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s{0,3}>\s?/, ''));
        const q = markdown(quoted.join('\n'));
        root.append(el('blockquote', {}, ...q.childNodes));
        continue;
      }
      const item = line.match(listItem);
      if (item) {
        flush();
        const ordered = /\d/.test(item[1]);
        const list = el(ordered ? 'ol' : 'ul');
        while (i < lines.length) {
          const m = lines[i].match(listItem);
          if (!m || /\d/.test(m[1]) !== ordered) break;
          const text = [m[2]];
          i++;
          while (i < lines.length && lines[i].trim() && !listItem.test(lines[i]) && /^\s+/.test(lines[i])) text.push(lines[i++].trim());
          list.append(el('li', {}, inline(text.join(' '))));
        }
        root.append(list);
        continue;
      }
      para.push(line.trim());
      i++;
    }
    flush();
    return root;
  }

  // ---------------------------------------------------------------------------------------
  // Live figures: every poll of /stats adds a sample per instance and per endpoint; the
  // charts show what happened between samples (requests and errors per interval, the average
  // time of the requests of that interval).

  const history = new Map(); // key → [{t, requests, errors, time}]
  const lastErrors = new Map(); // instance key → {endpoint, text}

  function record(key, sample) {
    const list = history.get(key) || [];
    const prev = list[list.length - 1];
    // A restarted instance starts counting again: start its history over.
    if (prev && sample.requests < prev.requests) list.length = 0;
    list.push(sample);
    if (list.length > HISTORY + 1) list.splice(0, list.length - HISTORY - 1);
    history.set(key, list);
  }

  function recordStats(stats, previous) {
    const t = Date.now();
    const perEndpoint = new Map();
    for (const inst of stats) {
      const key = `${inst.name}/${inst.id}`;
      let requests = 0, errors = 0, time = 0;
      const before = previous.find((p) => p.name === inst.name && p.id === inst.id);
      for (const e of inst.endpoints) {
        requests += e.num_requests; errors += e.num_errors; time += e.processing_time;
        const ek = `${inst.name}.${e.name}`;
        const agg = perEndpoint.get(ek) || { requests: 0, errors: 0, time: 0 };
        agg.requests += e.num_requests; agg.errors += e.num_errors; agg.time += e.processing_time;
        perEndpoint.set(ek, agg);
        const old = before && before.endpoints.find((x) => x.name === e.name);
        if (e.last_error && (!old || e.num_errors > old.num_errors || !lastErrors.has(key))) {
          lastErrors.set(key, { endpoint: e.name, text: e.last_error });
        }
      }
      record(key, { t, requests, errors, time });
    }
    for (const [key, agg] of perEndpoint) record('endpoint:' + key, { t, ...agg });
  }

  // Per-interval series of a history: requests, errors and the average time of the interval.
  function series(key) {
    const list = history.get(key) || [];
    const out = { requests: [], errors: [], latency: [] };
    for (let i = 1; i < list.length; i++) {
      const dr = list[i].requests - list[i - 1].requests;
      out.requests.push(dr);
      out.errors.push(list[i].errors - list[i - 1].errors);
      out.latency.push(dr > 0 ? (list[i].time - list[i - 1].time) / dr : null);
    }
    return out;
  }

  // A sparkline of `values` (null: no data there), newest on the right.
  function sparkline(values, { name, bad = false, format = String } = {}) {
    const W = 120, H = 28, pad = 2;
    const slots = Math.max(values.length, 2);
    const known = values.filter((v) => v !== null);
    const max = Math.max(1e-9, ...known);
    const x = (i) => pad + (W - 2 * pad) * (i + (HISTORY - slots)) / Math.max(HISTORY - 1, 1);
    const y = (v) => H - pad - (H - 2 * pad) * (v / max);
    let d = '', area = '', pen = false, points = 0, lastPoint = null;
    values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      const px = x(i).toFixed(1), py = y(v).toFixed(1);
      d += `${pen ? 'L' : 'M'}${px} ${py} `;
      pen = true;
      points++;
      lastPoint = [px, py];
    });
    if (points) {
      const first = values.findIndex((v) => v !== null);
      const lastIdx = values.length - 1 - [...values].reverse().findIndex((v) => v !== null);
      area = `M${x(first).toFixed(1)} ${H - pad} ` + values.map((v, i) => (v === null ? null : `L${x(i).toFixed(1)} ${y(v).toFixed(1)}`)).filter(Boolean).join(' ') + ` L${x(lastIdx).toFixed(1)} ${H - pad} Z`;
    }
    const last = known.length ? known[known.length - 1] : null;
    const title = `${name}: ${known.length ? 'last ' + format(last) + ', max ' + format(Math.max(...known)) : 'no data yet'} (${values.length} interval${values.length === 1 ? '' : 's'} of ${REFRESH_MS / 1000}s)`;
    const chart = svg('svg', {
      class: 'spark' + (bad ? ' bad' : ''), viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title,
      'data-series': name, 'data-points': points, 'data-values': values.map((v) => (v === null ? '' : Math.round(v))).join(','),
    }, svg('title', {}, title), svg('line', { class: 'base', x1: pad, x2: W - pad, y1: H - pad, y2: H - pad }));
    if (points) {
      chart.append(svg('path', { class: 'area', d: area }), svg('path', { class: 'line', d: d.trim() }));
      chart.append(svg('circle', { class: 'dot', cx: lastPoint[0], cy: lastPoint[1], r: 1.8 }));
    }
    return chart;
  }

  function figure(label, value, chart) {
    return el('div', { class: 'figure' }, el('span', { class: 'label' }, label), el('b', {}, value), chart);
  }

  // ---------------------------------------------------------------------------------------
  // The services list: search and filter

  const filter = { q: params.get('q') ?? '', onlyErrors: false };
  $('search').value = filter.q;
  $('search').addEventListener('input', () => { filter.q = $('search').value; renderServices(); });
  $('only-errors').addEventListener('change', () => { filter.onlyErrors = $('only-errors').checked; renderServices(); });
  document.addEventListener('keydown', (ev) => {
    const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement || ev.target instanceof HTMLSelectElement;
    if (ev.key === '/' && !typing && !$('view-services').hidden) { ev.preventDefault(); $('search').focus(); }
  });

  function serviceErrors(name) {
    let errors = 0;
    for (const inst of state.stats.filter((s) => s.name === name)) for (const e of inst.endpoints) errors += e.num_errors;
    return errors;
  }

  function matches(s) {
    const words = filter.q.toLowerCase().split(/\s+/).filter(Boolean);
    const hay = `${s.name} ${s.versions.join(' ')} ${s.description || ''}`.toLowerCase();
    if (!words.every((w) => hay.includes(w))) return false;
    return !filter.onlyErrors || serviceErrors(s.name) > 0;
  }

  function renderServices() {
    const shown = state.services.filter(matches);
    $('services').replaceChildren(...shown.map((s) => {
      const errors = serviceErrors(s.name);
      return el('li', {
        'data-service': s.name,
        class: s.name === state.selected ? 'selected' : '',
        tabIndex: 0,
        role: 'button',
        onclick: () => selectService(s.name),
        onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectService(s.name); } },
      },
      el('div', { class: 'name' }, s.name, errors ? ' ' : null, errors ? el('span', { class: 'badge bad', title: 'errors' }, plural(errors, 'error')) : null),
      el('small', {}, `${s.versions.join(', ')} · ${plural(s.instances, 'instance')} · ${plural(s.endpoints, 'endpoint')}`),
      s.description ? el('small', { class: 'desc' }, inline(s.description.split('\n')[0])) : null);
    }));
    const total = state.services.length;
    $('service-count').textContent = total ? (shown.length === total ? `(${total})` : `(${shown.length} of ${total})`) : '';
    $('no-services').hidden = total > 0;
    $('no-match').hidden = total === 0 || shown.length > 0;
  }

  // ---------------------------------------------------------------------------------------
  // The service picked: instances with their figures and charts, endpoints with their docs

  function endpointStats(service, endpoint) {
    let requests = 0, errors = 0, time = 0, lastError = '';
    for (const inst of state.stats.filter((s) => s.name === service)) {
      for (const e of inst.endpoints.filter((e) => e.name === endpoint)) {
        requests += e.num_requests; errors += e.num_errors; time += e.processing_time;
        if (e.last_error) lastError = e.last_error;
      }
    }
    return { requests, errors, avg: requests ? Math.floor(time / requests) : 0, lastError };
  }

  function instanceCard(d, i) {
    const stats = state.stats.find((s) => s.name === d.name && s.id === i.id);
    const key = `${d.name}/${i.id}`;
    const s = series(key);
    let requests = 0, errors = 0, time = 0;
    for (const e of stats ? stats.endpoints : []) { requests += e.num_requests; errors += e.num_errors; time += e.processing_time; }
    const recent = s.latency.filter((v) => v !== null);
    const lastError = lastErrors.get(key);
    const metadata = Object.entries(i.metadata || {}).map(([k, v]) => `${k}=${v}`).join(', ');
    return el('div', { class: 'instance', 'data-instance': i.id },
      el('div', { class: 'head' },
        el('code', {}, i.id),
        el('span', {}, i.version),
        el('span', { class: 'muted' }, 'up ' + uptime(i.uptime_secs)),
        metadata ? el('span', { class: 'meta mono muted' }, metadata) : null),
      stats ? el('div', { class: 'figures' },
        figure('requests', String(requests), sparkline(s.requests, { name: 'requests' })),
        figure('errors', String(errors), sparkline(s.errors, { name: 'errors', bad: true })),
        figure('latency avg · recent', `${nanos(requests ? time / requests : null)} · ${nanos(recent.length ? recent[recent.length - 1] : null)}`,
          sparkline(s.latency, { name: 'latency', format: nanos }))) : el('div', { class: 'muted' }, 'no figures (STATS did not answer)'),
      lastError ? el('div', { class: 'last-error', 'data-last-error': '' }, `last error (${lastError.endpoint}): ${errorText(lastError.text)}`) : null);
  }

  function renderDetail() {
    const d = state.detail;
    $('pick').hidden = !!d;
    $('service').hidden = !d;
    if (!d) return;
    $('service-name').textContent = d.name;
    $('service-versions').textContent = d.versions.join(', ');
    $('service-description').replaceChildren(...markdown(d.description || '').childNodes);
    $('instances').replaceChildren(...d.instances.map((i) => instanceCard(d, i)));
    renderEndpoints();
  }

  function renderEndpoints() {
    const d = state.detail;
    if (!d) return;
    const q = $('endpoint-filter').value.trim().toLowerCase();
    const shown = d.endpoints.filter((e) => !q || `${e.name} ${e.subject} ${e.doc || ''}`.toLowerCase().includes(q));
    $('endpoint-filter').hidden = d.endpoints.length < 2;
    $('no-endpoint-match').hidden = shown.length > 0 || d.endpoints.length === 0;
    $('endpoints').replaceChildren(...shown.map((e) => {
      const st = endpointStats(d.name, e.name);
      const s = series(`endpoint:${d.name}.${e.name}`);
      const kind = e.metadata && e.metadata.kind;
      return el('div', { class: 'endpoint' + (state.endpoint && state.endpoint.name === e.name ? ' selected' : ''), 'data-endpoint': e.name },
        el('div', { class: 'head' },
          el('code', {}, e.name),
          kind && kind !== 'unary' ? el('span', { class: 'badge' }, kind.replace('_', ' ')) : null,
          el('small', {}, `subject ${e.subject}`),
          el('button', { type: 'button', class: 'secondary try', onclick: () => selectEndpoint(e.name) }, 'Try')),
        el('div', { class: 'ep-stats' },
          el('span', { class: 'stats', 'data-requests': st.requests }, `${plural(st.requests, 'request')} · ${plural(st.errors, 'error')} · avg ${nanos(st.avg)}`),
          sparkline(s.requests, { name: 'requests' })),
        e.doc ? el('div', { class: 'doc' }, markdown(e.doc)) : null,
        st.lastError ? el('div', { class: 'err small' }, 'last error: ' + errorText(st.lastError)) : null,
        shape(e));
    }));
  }
  $('endpoint-filter').addEventListener('input', renderEndpoints);

  // The request and reply of an endpoint: their fields from the JSON Schemas in INFO, or the
  // bare shapes a service without schemas announces.
  function shape(e) {
    if (!e.request_schema && !e.response_schema) {
      return el('div', { class: 'muted' }, el('code', {}, `${JSON.stringify(e.request ?? {})} → ${e.response ?? '?'}`));
    }
    const fields = (list) => el('ul', { class: 'fields' }, ...list.map((f) => el('li', { 'data-field': f.name },
      el('code', {}, f.name), ': ', el('span', { class: 'mono' }, f.type), f.required ? ' (required)' : '',
      f.description ? el('span', { class: 'muted' }, ' — ', inline(f.description)) : null)));
    return el('div', { class: 'shape' },
      el('div', { class: 'muted' }, 'request', e.request_fields.length ? null : el('code', {}, ' {}')),
      e.request_fields.length ? fields(e.request_fields) : null,
      el('div', { class: 'muted' }, 'response ', el('code', {}, e.response_type ?? '?')),
      e.response_fields.length ? fields(e.response_fields) : null);
  }

  async function loadService(name) {
    const resp = await request('GET', 'services/' + encodeURIComponent(name));
    if (state.selected !== name) return; // another service was picked meanwhile
    if (resp.ok) {
      state.detail = resp.data;
    } else {
      state.detail = null;
      $('pick').textContent = `${name}: ${errorLine(resp)}`;
    }
    renderDetail();
  }

  // One poll at a time: asked for while one runs, another follows it (once, however often it
  // was asked), so a slow gateway never piles polls up.
  let polling = null, pollAgain = false;
  function refresh() {
    if (polling) { pollAgain = true; return polling; }
    polling = poll().finally(() => {
      polling = null;
      if (pollAgain) { pollAgain = false; refresh(); }
    });
    return polling;
  }

  async function poll() {
    try {
      const [services, stats] = await Promise.all([request('GET', 'services'), request('GET', 'stats')]);
      if (!services.ok) {
        setStatus(services.status === 401 ? 'unauthorized: enter the gateway token' : errorLine(services), true);
        return;
      }
      const previous = state.stats;
      state.services = services.data;
      state.stats = stats.ok ? stats.data : [];
      recordStats(state.stats, previous);
      renderServices();
      if (state.selected) await loadService(state.selected);
      setStatus('updated ' + new Date().toLocaleTimeString());
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    } catch (err) {
      setStatus('gateway unreachable: ' + err, true);
    }
  }

  async function selectService(name) {
    if (state.selected !== name) {
      state.endpoint = null;
      state.form = null;
      $('call').hidden = true;
      $('pick-endpoint').hidden = false;
      $('endpoint-filter').value = '';
    }
    state.selected = name;
    renderServices();
    await loadService(name);
  }

  // ---------------------------------------------------------------------------------------
  // The call form: one input per field of the request schema, writing into the JSON body
  // (which stays editable, and is what is sent).

  function deref(schema, root, depth = 0) {
    let s = schema;
    for (let n = 0; n < 16 && s && typeof s === 'object'; n++) {
      if (typeof s.$ref === 'string' && s.$ref.startsWith('#')) {
        const path = s.$ref.slice(1).split('/').filter(Boolean).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
        let target = root;
        for (const p of path) target = target && typeof target === 'object' ? target[p] : undefined;
        if (!target) return {};
        const { $ref, ...rest } = s;
        s = { ...target, ...rest };
        continue;
      }
      if (Array.isArray(s.allOf) && s.allOf.length === 1) {
        const { allOf, ...rest } = s;
        s = { ...deref(allOf[0], root, depth + 1), ...rest };
        continue;
      }
      break;
    }
    return s && typeof s === 'object' ? s : {};
  }

  const isScalar = (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v);

  // What input a schema gets: {kind, nullable, options?, schema}.
  function classify(schema, root) {
    let s = deref(schema, root);
    let nullable = false;
    const alts = s.anyOf || s.oneOf;
    if (Array.isArray(alts)) {
      const nonNull = alts.filter((a) => deref(a, root).type !== 'null');
      if (nonNull.length < alts.length) nullable = true;
      const consts = nonNull.map((a) => deref(a, root));
      if (consts.length && consts.every((c) => 'const' in c || (Array.isArray(c.enum) && c.enum.length === 1))) {
        return { kind: 'enum', nullable, options: consts.map((c) => ({ value: 'const' in c ? c.const : c.enum[0], description: c.description })), schema: s };
      }
      if (nonNull.length === 1) {
        s = { ...deref(nonNull[0], root), description: s.description ?? deref(nonNull[0], root).description };
      } else {
        return { kind: 'json', nullable, schema: s };
      }
    }
    let type = s.type;
    if (Array.isArray(type)) {
      if (type.includes('null')) nullable = true;
      const rest = type.filter((t) => t !== 'null');
      type = rest.length === 1 ? rest[0] : undefined;
    }
    if (Array.isArray(s.enum) && s.enum.every(isScalar)) {
      const values = s.enum.filter((v) => v !== null);
      if (values.length < s.enum.length) nullable = true;
      return { kind: 'enum', nullable, options: values.map((value) => ({ value })), schema: s };
    }
    if ('const' in s && isScalar(s.const)) return { kind: 'enum', nullable, options: [{ value: s.const }], schema: s };
    if (type === 'string') return { kind: 'string', nullable, schema: s };
    if (type === 'integer' || type === 'number') return { kind: type, nullable, schema: s };
    if (type === 'boolean') return { kind: 'boolean', nullable, schema: s };
    if (type === 'object' && s.properties && typeof s.properties === 'object' && !s.additionalProperties) return { kind: 'object', nullable, schema: s };
    return { kind: 'json', nullable, schema: s };
  }

  function typeLabel(c) {
    const s = c.schema;
    let t = c.kind === 'json' ? (Array.isArray(s.type) ? s.type.join(' | ') : s.type || 'JSON') : c.kind;
    if (c.kind === 'json' && s.type === 'array' && s.items) t = 'array (JSON)';
    else if (c.kind === 'json' && s.type === 'object') t = 'object (JSON)';
    if (s.format) t += ` (${s.format})`;
    if (c.nullable) t += ' | null';
    return t;
  }

  let fieldIds = 0;

  // A control for one field: {node, get() → {set, value, invalid}, put(value)}.
  function control(name, schema, root, required, depth, path, onChange) {
    const c = classify(schema, root);
    const id = `f${++fieldIds}`;
    const desc = c.schema.description;
    const optional = !required || c.nullable;
    const label = () => el('label', { for: id },
      el('code', {}, name),
      el('span', { class: 'type' }, typeLabel(c)),
      required ? el('span', { class: 'req', title: 'required' }, '*') : null);
    const help = desc ? el('div', { class: 'help' }, inline(desc)) : null;
    const wrap = (input, extraClass = '') => el('div', { class: 'field ' + extraClass, 'data-path': path, 'data-kind': c.kind }, label(), input, help);

    if (c.kind === 'object' && depth < 3) {
      const req = new Set(Array.isArray(c.schema.required) ? c.schema.required : []);
      const children = Object.entries(c.schema.properties).map(([k, v]) => [k, control(k, v, root, req.has(k), depth + 1, `${path}.${k}`, onChange)]);
      const node = el('fieldset', { class: 'object', 'data-path': path, 'data-kind': 'object' },
        el('legend', {}, el('code', {}, name), ' ', el('span', { class: 'type' }, 'object' + (c.nullable ? ' | null' : '')), required ? el('span', { class: 'req' }, ' *') : null),
        help, ...children.map(([, ch]) => ch.node));
      return {
        node,
        get() {
          const value = {};
          let any = false, invalid = false;
          for (const [k, ch] of children) {
            const r = ch.get();
            if (r.invalid) invalid = true;
            if (r.set) { value[k] = r.value; any = true; }
          }
          return { set: (required && !c.nullable) || any, value, invalid };
        },
        put(v) { for (const [k, ch] of children) ch.put(v && typeof v === 'object' ? v[k] : undefined); },
      };
    }

    let input, get, put;
    const changed = () => onChange();
    if (c.kind === 'enum' || (c.kind === 'boolean' && optional)) {
      const options = c.kind === 'boolean' ? [{ value: true }, { value: false }] : c.options;
      input = el('select', { id, onchange: changed },
        optional ? el('option', { value: '' }, '(not set)') : null,
        ...options.map((o) => el('option', { value: JSON.stringify(o.value), title: o.description || '' }, typeof o.value === 'string' ? o.value : JSON.stringify(o.value))));
      get = () => (input.value === '' ? { set: false } : { set: true, value: JSON.parse(input.value) });
      put = (v) => {
        const want = v === undefined || (v === null && optional) ? '' : JSON.stringify(v);
        input.value = [...input.options].some((o) => o.value === want) ? want : (optional ? '' : input.options[0]?.value ?? '');
      };
    } else if (c.kind === 'boolean') {
      input = el('input', { id, type: 'checkbox', onchange: changed, 'data-field-input': path });
      get = () => ({ set: true, value: input.checked });
      put = (v) => { input.checked = v === true; };
      const node = el('div', { class: 'field bool', 'data-path': path, 'data-kind': c.kind },
        el('label', { for: id }, input, el('code', {}, name), el('span', { class: 'type' }, typeLabel(c)), required ? el('span', { class: 'req' }, '*') : null), help);
      return { node, get, put };
    } else if (c.kind === 'string') {
      input = el('input', { id, type: 'text', oninput: changed, placeholder: c.schema.format || (optional ? '(not set)' : ''), spellcheck: false, autocomplete: 'off' });
      get = () => (optional && input.value === '' ? { set: false } : { set: true, value: input.value });
      put = (v) => { input.value = v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v); };
    } else if (c.kind === 'integer' || c.kind === 'number') {
      input = el('input', { id, type: 'number', inputMode: c.kind === 'integer' ? 'numeric' : 'decimal', step: c.kind === 'integer' ? '1' : 'any', oninput: changed, placeholder: optional ? '(not set)' : '' });
      if (typeof c.schema.minimum === 'number') input.min = String(c.schema.minimum);
      if (typeof c.schema.maximum === 'number') input.max = String(c.schema.maximum);
      get = () => {
        if (input.value.trim() === '') return { set: false, invalid: input.validity.badInput };
        const n = Number(input.value);
        if (!Number.isFinite(n) || (c.kind === 'integer' && !Number.isInteger(n))) return { set: false, invalid: true };
        return { set: true, value: n };
      };
      put = (v) => { input.value = typeof v === 'number' ? String(v) : ''; };
    } else {
      input = el('textarea', { id, rows: 2, spellcheck: false, oninput: changed, placeholder: optional ? '(not set) JSON' : 'JSON' });
      get = () => {
        if (input.value.trim() === '') return { set: false };
        try { return { set: true, value: JSON.parse(input.value) }; } catch { return { set: false, invalid: true }; }
      };
      put = (v) => { input.value = v === undefined ? '' : JSON.stringify(v); };
    }
    input.dataset.fieldInput = path;
    const node = wrap(input);
    const check = () => node.classList.toggle('invalid', !!get().invalid);
    input.addEventListener('input', check);
    input.addEventListener('change', check);
    return { node, get, put: (v) => { put(v); check(); } };
  }

  // The per-field form of an endpoint, or null when its request has no fields to show.
  function buildForm(e, onChange) {
    const root = e.request_schema;
    if (!root || typeof root !== 'object') return null;
    const s = deref(root, root);
    if (!s.properties || typeof s.properties !== 'object' || !Object.keys(s.properties).length) return null;
    const required = new Set(Array.isArray(s.required) ? s.required : []);
    const children = Object.entries(s.properties).map(([k, v]) => [k, control(k, v, root, required.has(k), 0, k, onChange)]);
    return {
      nodes: children.map(([, c]) => c.node),
      keys: children.map(([k]) => k),
      get() {
        const value = {};
        for (const [k, c] of children) { const r = c.get(); if (r.set) value[k] = r.value; }
        return value;
      },
      put(obj) { for (const [k, c] of children) c.put(obj[k]); },
    };
  }

  // Fields → body: the keys the fields know are rewritten; other keys typed in the body stay.
  function fieldsToBody() {
    if (!state.form) return;
    let current = {};
    try { const v = JSON.parse($('body').value || '{}'); if (v && typeof v === 'object' && !Array.isArray(v)) current = v; } catch { /* rewritten below */ }
    const fromFields = state.form.get();
    for (const k of state.form.keys) {
      if (k in fromFields) current[k] = fromFields[k];
      else delete current[k];
    }
    $('body').value = JSON.stringify(current, null, 2);
    checkBody();
  }

  // Body → fields, whenever the body is edited and parses.
  function bodyToFields() {
    const v = checkBody();
    if (state.form && v && typeof v === 'object' && !Array.isArray(v)) state.form.put(v);
  }

  function checkBody() {
    const text = $('body').value;
    try {
      const v = text.trim() ? JSON.parse(text) : {};
      $('body').classList.remove('invalid');
      $('body-error').hidden = true;
      return v;
    } catch (err) {
      $('body').classList.add('invalid');
      $('body-error').hidden = false;
      $('body-error').textContent = 'invalid JSON: ' + err.message;
      return undefined;
    }
  }
  $('body').addEventListener('input', bodyToFields);

  function selectEndpoint(name) {
    const d = state.detail;
    const e = d && d.endpoints.find((x) => x.name === name);
    if (!e) return false;
    const same = state.endpoint && state.endpoint.name === e.name && $('call').dataset.service === d.name;
    state.endpoint = e;
    $('call').hidden = false;
    $('pick-endpoint').hidden = true;
    $('call').dataset.service = d.name;
    $('call').dataset.endpoint = e.name;
    $('call-target').textContent = `${d.name}.${e.name}`;
    const kind = (e.metadata && e.metadata.kind) || 'unary';
    $('call-kind').hidden = kind === 'unary';
    $('call-kind').textContent = kind.replace('_', ' ');
    if (!same) {
      state.form = buildForm(e, fieldsToBody);
      $('fields').replaceChildren(...(state.form ? state.form.nodes : []));
      $('body').value = JSON.stringify(e.example ?? {}, null, 2);
      bodyToFields();
      $('result').hidden = true;
      $('reply-metadata').hidden = true;
      $('copy-text').hidden = true;
      $('copy-status').textContent = '';
      $('call-status').textContent = '';
    }
    renderEndpoints();
    return true;
  }

  // Metadata rows: key and value, sent as `X-Micro-<key>` headers.
  function addMetadataRow(key = '', value = '') {
    const row = el('div', { class: 'md-row' },
      el('input', { class: 'md-key', value: key, placeholder: 'key, e.g. Request-Id', 'aria-label': 'metadata key', spellcheck: false, autocomplete: 'off' }),
      el('input', { class: 'md-value', value, placeholder: 'value', 'aria-label': 'metadata value', spellcheck: false, autocomplete: 'off' }),
      el('button', { type: 'button', class: 'secondary small', title: 'remove', 'aria-label': 'remove metadata', onclick: () => row.remove() }, '×'));
    $('metadata').append(row);
    return row;
  }
  $('add-metadata').addEventListener('click', () => addMetadataRow().querySelector('input').focus());

  const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
  const reservedKey = (k) => ['authorization', 'proxy-authorization', 'cookie', 'content-type'].includes(k.toLowerCase()) || /^(micro-|nats-|x-micro-)/i.test(k);
  const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/;

  // What the form asks for beyond the body: {timeout, metadata: [[k, v]]}, or {error}.
  function callOptions() {
    const t = $('timeout').value.trim();
    let timeout = null;
    if (t) {
      const m = t.match(DURATION);
      if (!m || Number(m[1]) === 0) return { error: `timeout \`${t}\` is not a duration: write it with a unit, e.g. 500ms, 2s or 1m` };
      timeout = m[1] + m[2];
    }
    const metadata = [];
    for (const row of $('metadata').querySelectorAll('.md-row')) {
      const k = row.querySelector('.md-key').value.trim();
      const v = row.querySelector('.md-value').value;
      if (!k && !v) continue;
      if (!HEADER_TOKEN.test(k)) return { error: `metadata key \`${k}\` is not a header name (letters, digits and -_.!#$%&'*+^\`|~)` };
      if (reservedKey(k)) return { error: `metadata key \`${k}\` is reserved (Authorization, Cookie, Content-Type, Micro-*, Nats-*); the timeout has its own field` };
      if (!/^[\t\x20-\x7e]*$/.test(v)) return { error: `the value of metadata \`${k}\` must be printable ASCII` };
      metadata.push([k, v.trim()]);
    }
    return { timeout, metadata };
  }

  function showOptionsError(text) {
    $('options-error').hidden = !text;
    $('options-error').textContent = text || '';
  }

  function callHeaders(opts) {
    const headers = {};
    if (opts.timeout) headers['Micro-Timeout'] = opts.timeout;
    for (const [k, v] of opts.metadata) headers['X-Micro-' + k] = v;
    return headers;
  }

  function showResult(ok, text, status) {
    const out = $('result');
    out.hidden = false;
    out.className = ok ? 'ok' : 'error';
    out.textContent = text;
    $('call-status').textContent = status;
    document.body.dataset.lastCall = ok ? 'ok' : 'error';
    document.body.dataset.calls = String(Number(document.body.dataset.calls || 0) + 1);
  }

  function showReplyMetadata(headers) {
    const md = [];
    if (headers) for (const [k, v] of headers) if (k.toLowerCase().startsWith('x-micro-')) md.push(`${k.slice(8)}=${v}`);
    $('reply-metadata').hidden = md.length === 0;
    $('reply-metadata').textContent = md.length ? 'reply metadata: ' + md.join(', ') : '';
  }

  // A server stream, read as the gateway sends it (one JSON object per line: `item`, then `end`
  // or `error`): each item is shown as it arrives; a stream that stops without its last line was
  // cut off, and says so.
  async function stream(path, body, extra) {
    const headers = authHeaders({ Accept: 'application/x-ndjson', 'Content-Type': 'application/json', ...extra });
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
    let error = null, ended = false;
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
        const frame = JSON.parse(line);
        if ('item' in frame) items.push(frame.item);
        else if ('error' in frame) error = frame.error;
        else if ('end' in frame) ended = true;
      }
      if (done) break;
      show(false);
    }
    if (!ended && !error) error = { code: 502, status: 'Bad Gateway', detail: 'the stream was cut off before its end' };
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
    const opts = callOptions();
    showOptionsError(opts.error);
    if (opts.error) {
      showResult(false, opts.error, 'not sent');
      return;
    }
    const extra = callHeaders(opts);
    const kind = (state.endpoint && state.endpoint.metadata && state.endpoint.metadata.kind) || 'unary';
    if (kind === 'client_stream' || kind === 'bidirectional') {
      showResult(false, `${service}.${endpoint} takes a stream of items (${kind}): call it from code`, 'not sent');
      return;
    }
    $('send').disabled = true;
    const path = `${encodeURIComponent(service)}/${encodeURIComponent(endpoint)}`;
    try {
      if (kind === 'server_stream') {
        showReplyMetadata(null);
        await stream(path, text, extra);
      } else {
        const resp = await request('POST', path, text, extra);
        const status = `${resp.status} ${resp.statusText} · ${resp.ms.toFixed(0)} ms`;
        showReplyMetadata(resp.headers);
        if (resp.ok) showResult(true, JSON.stringify(resp.data, null, 2), status);
        else showResult(false, errorLine(resp) + '\n\n' + JSON.stringify(resp.data, null, 2), status);
      }
    } catch (err) {
      showResult(false, 'request failed: ' + err, 'failed');
    } finally {
      $('send').disabled = false;
    }
    refresh();
  }
  $('call').addEventListener('submit', send);

  // The command lines that make the same call: curl against this gateway, `micro call` on NATS.
  function compactBody() {
    const text = $('body').value;
    return text.trim() ? JSON.stringify(JSON.parse(text)) : '{}';
  }

  function curlLine(opts) {
    const form = $('call');
    const url = new URL(`${encodeURIComponent(form.dataset.service)}/${encodeURIComponent(form.dataset.endpoint)}`, base).href;
    const kind = (state.endpoint && state.endpoint.metadata && state.endpoint.metadata.kind) || 'unary';
    const parts = ['curl', '-sS'];
    if (kind === 'server_stream') parts.push('-N');
    parts.push('-H', shq('Content-Type: application/json'));
    // The token itself stays out of the clipboard: the command reads it from the variable
    // `micro api` takes it from.
    if (token) parts.push('-H', '"Authorization: Bearer $MICRO_API_AUTH_TOKEN"');
    for (const [k, v] of Object.entries(callHeaders(opts))) parts.push('-H', shq(`${k}: ${v}`));
    parts.push('--data-raw', shq(compactBody()), shq(url));
    return parts.join(' ');
  }

  function microLine(opts) {
    const form = $('call');
    const parts = ['micro', 'call', shq(form.dataset.service), shq(form.dataset.endpoint), shq(compactBody())];
    if (opts.timeout) parts.push('--timeout', opts.timeout);
    for (const [k, v] of opts.metadata) parts.push('-H', shq(`${k}=${v}`));
    return parts.join(' ');
  }

  async function copy(what) {
    let line;
    try {
      const opts = callOptions();
      showOptionsError(opts.error);
      if (opts.error) return;
      line = what === 'curl' ? curlLine(opts) : microLine(opts);
    } catch (err) {
      $('copy-status').textContent = 'cannot copy: the body is not valid JSON';
      return;
    }
    const out = $('copy-text');
    out.hidden = false;
    out.textContent = line;
    out.dataset.kind = what;
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(line);
        copied = true;
      }
    } catch { /* not allowed here: select the text instead */ }
    if (!copied) {
      const range = document.createRange();
      range.selectNodeContents(out);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { copied = document.execCommand('copy'); } catch { copied = false; }
    }
    $('copy-status').textContent = copied ? `copied the ${what === 'curl' ? 'curl' : 'micro call'} command` : 'press Ctrl+C to copy the selected command';
    out.dataset.copied = copied ? 'yes' : 'no';
  }
  $('copy-curl').addEventListener('click', () => copy('curl'));
  $('copy-micro').addEventListener('click', () => copy('micro'));

  // ---------------------------------------------------------------------------------------
  // Views

  function showView(view) {
    for (const v of ['services', 'events']) {
      $('view-' + v).hidden = v !== view;
      $('tab-' + v).setAttribute('aria-selected', String(v === view));
    }
    document.body.dataset.view = view;
    if (view === 'events') $('topic').focus();
  }
  $('tab-services').addEventListener('click', () => showView('services'));
  $('tab-events').addEventListener('click', () => showView('events'));

  // ---------------------------------------------------------------------------------------
  // The event viewer: `GET /_events?topic=..` as server-sent events, read with fetch (so the
  // bearer token goes in a header, which EventSource cannot send).

  let watching = null; // {topic, abort}
  let eventCount = 0;

  function eventsState(s, text, bad) {
    $('events-panel').dataset.events = s;
    $('events-status').textContent = text;
    $('events-status').classList.toggle('error', !!bad);
    $('subscribe').disabled = s === 'connecting';
    $('unsubscribe').disabled = !(s === 'open' || s === 'connecting');
  }

  function addEventItem(node) {
    const list = $('event-list');
    list.prepend(node);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  function time() {
    const d = new Date();
    return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function showEvent(ev) {
    eventCount++;
    const metadata = Object.entries(ev.metadata || {}).map(([k, v]) => `${k}=${v}`).join(', ');
    const body = 'data' in ev ? JSON.stringify(ev.data, null, 2) : String(ev.raw ?? '');
    addEventItem(el('li', { class: 'event', 'data-topic': ev.topic },
      el('div', { class: 'head' },
        el('time', {}, time()),
        el('code', {}, ev.topic),
        metadata ? el('span', { class: 'mono muted' }, metadata) : null,
        'raw' in ev ? el('span', { class: 'badge' }, 'not JSON') : null),
      el('pre', {}, body)));
    $('event-list').dataset.count = String(eventCount);
    eventsState('open', `watching ${watching ? watching.topic : ''} · ${plural(eventCount, 'event')}`);
  }

  function stopWatching(why) {
    if (watching) {
      watching.abort.abort();
      watching = null;
      eventsState('closed', why || 'stopped');
    }
  }

  async function watch(topic) {
    stopWatching();
    topic = topic.trim();
    if (!topic) { eventsState('closed', 'enter a topic', true); return; }
    const abort = new AbortController();
    const me = { topic, abort };
    watching = me;
    eventsState('connecting', `subscribing to ${topic}…`);
    let resp;
    try {
      resp = await fetch(new URL('_events?topic=' + encodeURIComponent(topic), base), {
        headers: authHeaders({ Accept: 'text/event-stream' }), signal: abort.signal, cache: 'no-store',
      });
    } catch (err) {
      if (watching === me) { watching = null; eventsState('error', 'cannot reach the gateway: ' + err, true); }
      return;
    }
    if (!resp.ok) {
      const text = await resp.text();
      let data = null;
      try { data = JSON.parse(text); } catch { data = text; }
      if (watching === me) { watching = null; eventsState('error', errorLine({ status: resp.status, statusText: resp.statusText, data }), true); }
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const handle = (block) => {
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') name = value;
        else if (field === 'data') data.push(value);
      }
      if (!data.length) return;
      let payload;
      try { payload = JSON.parse(data.join('\n')); } catch { return; }
      if (name === 'ready') {
        eventsState('open', `watching ${payload.topic} · ${plural(eventCount, 'event')}`);
      } else if (name === 'event') {
        showEvent(payload);
      } else if (name === 'dropped') {
        addEventItem(el('li', { class: 'notice', 'data-dropped': payload.dropped },
          el('div', { class: 'head' }, el('time', {}, time()),
            `${plural(payload.dropped, 'event')} dropped here: this page read them too slowly (${payload.total} in all)`)));
      } else if (name === 'error') {
        addEventItem(el('li', { class: 'failure' }, el('div', { class: 'head' }, el('time', {}, time()), errorLine({ data: payload }))));
        if (watching === me) { watching = null; eventsState('error', errorLine({ data: payload }), true); }
      }
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        buffered += decoder.decode(value || new Uint8Array(), { stream: !done }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          handle(buffered.slice(0, end));
          buffered = buffered.slice(end + 2);
        }
        if (done) break;
      }
      if (watching === me) { watching = null; eventsState('closed', 'the gateway closed the stream', true); }
    } catch (err) {
      if (watching === me) { watching = null; eventsState('error', 'the stream failed: ' + err, true); }
    }
  }

  $('events-form').addEventListener('submit', (ev) => { ev.preventDefault(); watch($('topic').value); });
  $('unsubscribe').addEventListener('click', () => stopWatching('stopped'));
  $('clear-events').addEventListener('click', () => {
    $('event-list').replaceChildren();
    eventCount = 0;
    $('event-list').dataset.count = '0';
    if (watching) eventsState('open', `watching ${watching.topic} · no events`);
  });
  eventsState('closed', '');

  // ---------------------------------------------------------------------------------------
  // Links such as ?service=greeter&endpoint=hello&body={..}&send=1 open (and run) a call;
  // ?view=events&topic=orders.created&subscribe=1 watches a topic.
  async function start() {
    showView(params.get('view') === 'events' ? 'events' : 'services');
    if (params.has('topic')) $('topic').value = params.get('topic');
    if (params.get('view') === 'events' && params.get('subscribe') === '1') watch($('topic').value);
    await refresh();
    const endpoint = params.get('endpoint');
    if (state.selected && endpoint) {
      await loadService(state.selected);
      if (selectEndpoint(endpoint)) {
        if (params.has('body')) { $('body').value = params.get('body'); bodyToFields(); }
        if (params.get('send') === '1') $('send').click();
      }
    }
    setInterval(refresh, REFRESH_MS);
  }
  start();
})();
