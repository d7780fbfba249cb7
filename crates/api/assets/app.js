// Trellis dashboard: reads and changes the lattice through the same API the CLI uses
// (/v1/lattice/<subject>, /v1/gather/<subject>), and follows it live through /v1/events.
// Everything is built with DOM calls and textContent: nothing from the lattice is ever parsed
// as HTML.
'use strict';

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** h('td', {class: 'num'}, 'text', node, [more]) */
function h(tag, attrs, ...children) {
  const svg = ['svg', 'g', 'rect', 'text', 'path', 'defs', 'marker', 'title'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}
const $ = (sel, root = document) => root.querySelector(sel);

function pill(status) {
  const s = (status || 'unknown').toLowerCase();
  return h('span', { class: `pill s-${s}`, 'data-status': s }, s);
}
function table(headers, rows, empty) {
  if (!rows.length) return h('div', { class: 'empty' }, empty || 'Nothing here yet.');
  return h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}
function toast(text, bad) {
  const t = h('div', { class: bad ? 'toast bad' : 'toast', role: bad ? 'alert' : 'status' }, text);
  $('#toast').append(t);
  setTimeout(() => t.remove(), bad ? 9000 : 3000);
}
function ago(s) {
  if (s == null) return '';
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${hr}h` : hr ? `${hr}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}
function when(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : '';
}

// A JSON value as YAML, for reading manifests.
function toYaml(value, indent = '') {
  const scalar = (v) => {
    if (v === null) return 'null';
    if (typeof v !== 'string') return String(v);
    if (v === '' || /^[\s\-?:,[\]{}#&*!|>'"%@`]|:\s|\s#|\n|^(true|false|null|yes|no|~|[-+]?[\d.]+)$/i.test(v) || v.trim() !== v) return JSON.stringify(v);
    return v;
  };
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return value.map((v) => {
      if (v && typeof v === 'object' && Object.keys(v).length) {
        const inner = toYaml(v, indent + '  ');
        return `${indent}- ${inner.slice(indent.length + 2)}`;
      }
      return `${indent}- ${v && typeof v === 'object' ? (Array.isArray(v) ? '[]' : '{}') : scalar(v)}`;
    }).join('\n');
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (!keys.length) return '{}';
    return keys.map((k) => {
      const v = value[k];
      const key = scalar(k);
      if (v && typeof v === 'object' && (Array.isArray(v) ? v.length : Object.keys(v).length)) {
        return `${indent}${key}:\n${toYaml(v, Array.isArray(v) ? indent : indent + '  ')}`;
      }
      return `${indent}${key}: ${v && typeof v === 'object' ? (Array.isArray(v) ? '[]' : '{}') : scalar(v)}`;
    }).join('\n');
  }
  return indent + scalar(value);
}

// ---------------------------------------------------------------------------------------------
// The API

let LATTICE = 'default';
const ctl = (op) => `wasmbus.ctl.v1.${LATTICE}.${op}`;
const model = (op, name) => `wadm.api.${LATTICE}.model.${op}${name ? `.${name}` : ''}`;

async function post(kind, subject, body, headers) {
  const r = await fetch(`/v1/${kind}/${subject}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(headers || {}) },
    body: body == null ? '' : typeof body === 'string' ? body : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await r.text();
  if (!r.ok) throw new Error(text.trim() || `${r.status} ${r.statusText}`);
  return text ? JSON.parse(text) : null;
}
const request = (subject, body, headers) => post('lattice', subject, body, headers);
const gather = (subject) => post('gather', subject, null);
/** A control-interface call; fails with the host's or manager's message on `success: false`. */
async function checked(subject, body) {
  const reply = await request(subject, body);
  if (!reply || reply.success !== true) throw new Error((reply && reply.message) || 'the request failed');
  return reply;
}
/** A wadm call; fails with wadm's message on an error result. */
async function wadm(op, name, body, headers) {
  const reply = await request(model(op, name), body, headers);
  if (reply && (reply.result === 'error' || reply.result === 'notfound')) throw new Error(reply.message || `${op} failed`);
  return reply;
}

// ---------------------------------------------------------------------------------------------
// State: what the lattice looks like, reloaded by part when an event says that part changed

const state = {
  info: null,
  hosts: [], // inventories
  links: [],
  configs: {},
  secrets: null, // null: no local secret store on this lattice
  apps: [],
  app: {}, // name -> { versions, status, manifests: {version: manifest}, shownVersion }
  health: {}, // provider id -> { status, host, at }
  events: [],
  errors: {},
  loaded: new Set(),
};

const loaders = {
  async hosts() {
    const pings = await gather(ctl('host.ping'));
    const ids = pings.map((p) => (p && (p.response || p)).id).filter(Boolean).sort();
    const inventories = await Promise.all(ids.map(async (id) => {
      try {
        return (await checked(ctl(`host.get.${id}`))).response;
      } catch (e) {
        return { host_id: id, components: [], providers: [], labels: {}, error: e.message };
      }
    }));
    state.hosts = inventories.filter(Boolean);
    hostsReadAt = Date.now();
  },
  async links() {
    state.links = (await checked(ctl('link.get'))).response || [];
  },
  async configs() {
    try {
      state.configs = (await checked(`trellis.config.v1.${LATTICE}.list`)).response || {};
      delete state.errors.configs;
    } catch (e) {
      state.configs = {};
      state.errors.configs = `named config cannot be listed: ${e.message}`;
    }
    try {
      state.secrets = (await checked(`trellis.secrets.v1.${LATTICE}.list`)).response || [];
    } catch {
      state.secrets = null;
    }
  },
  async apps() {
    try {
      state.apps = (await wadm('get')).models || [];
      delete state.errors.apps;
    } catch (e) {
      state.apps = [];
      state.errors.apps = e.message;
    }
    const open = route().app;
    if (open) await loadApp(open);
  },
};

async function loadApp(name) {
  const app = state.app[name] || (state.app[name] = { manifests: {} });
  try {
    const [versions, status] = await Promise.all([wadm('versions', name), request(model('status', name))]);
    app.versions = versions.versions || [];
    app.status = status.status || null;
    app.missing = status.result === 'notfound' ? status.message : null;
    const deployed = app.versions.find((v) => v.deployed);
    const latest = app.versions[app.versions.length - 1];
    if (!app.shownVersion || !app.versions.some((v) => v.version === app.shownVersion)) app.shownVersion = (deployed || latest || {}).version;
    if (app.shownVersion && !app.manifests[app.shownVersion]) {
      app.manifests[app.shownVersion] = (await wadm('get', name, { version: app.shownVersion })).manifest;
    }
  } catch (e) {
    app.missing = e.message;
  }
}

let pending = new Set();
let timer = null;
/** Reloads `parts` soon, once, however many events ask for it. */
function refresh(...parts) {
  for (const p of parts) pending.add(p);
  if (timer) return;
  timer = setTimeout(async () => {
    const now = [...pending];
    pending = new Set();
    timer = null;
    await Promise.all(now.map(async (p) => {
      try {
        await loaders[p]();
        state.loaded.add(p);
        delete state.errors[`load-${p}`];
      } catch (e) {
        state.errors[`load-${p}`] = `${p}: ${e.message}`;
      }
    }));
    render();
  }, 120);
}
const ALL = ['hosts', 'links', 'configs', 'apps'];

/** Which parts an event changes. */
function partsOf(kind) {
  if (kind.startsWith('linkdef')) return ['links'];
  if (kind.startsWith('config')) return ['configs'];
  if (kind === 'app_status' || kind.startsWith('model_')) return ['apps'];
  if (kind.startsWith('health_check')) return [];
  return ['hosts'];
}

/** A heartbeat carries the host's whole inventory: take it as it is, without asking again. */
function heartbeat(event) {
  const host = { ...event.data, host_id: event.source };
  const at = state.hosts.findIndex((h) => h.host_id === host.host_id);
  if (at >= 0) state.hosts[at] = host;
  else {
    state.hosts.push(host);
    state.hosts.sort((a, b) => a.host_id.localeCompare(b.host_id));
  }
  scheduleRender();
}

let renderTimer = null;
function scheduleRender() {
  if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = null; render(); }, 120);
}

let lastSeq = 0;
let hostsReadAt = 0;
let caughtUp = false;

function follow() {
  const live = $('#live');
  const source = new EventSource('/v1/events');
  source.onopen = () => {
    live.textContent = 'live';
    live.className = 'pill s-live';
  };
  source.onerror = () => {
    live.textContent = 'reconnecting';
    live.className = 'pill s-down';
    caughtUp = false;
  };
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.kind === 'caught_up' || event.kind === 'resync') {
      // Everything before this was history: read the lattice as it is now.
      caughtUp = true;
      refresh(...ALL);
      return;
    }
    if (event.seq && event.seq <= lastSeq) return; // already seen (a reconnect to the same server)
    lastSeq = Math.max(lastSeq, event.seq);
    if (event.kind.startsWith('health_check')) {
      const id = event.data.provider_id || event.data.component_id;
      if (id) state.health[id] = { status: event.kind === 'health_check_failed' ? 'unhealthy' : 'ok', host: event.data.host_id, at: event.received_ms };
    }
    state.events.push(event);
    if (state.events.length > 1000) state.events.splice(0, state.events.length - 1000);
    if (!caughtUp) return;
    // Heartbeats update the host they come from; a full read (which also drops hosts that died
    // without a word) at most every 15 s.
    if (event.kind === 'host_heartbeat' && state.loaded.has('hosts') && Date.now() - hostsReadAt < 15000) return heartbeat(event);
    if (event.kind === 'host_stopped') state.hosts = state.hosts.filter((h) => h.host_id !== event.source);
    const parts = partsOf(event.kind);
    if (parts.length) refresh(...parts);
    else if (route().view === 'events') scheduleRender();
  };
}

// ---------------------------------------------------------------------------------------------
// Derived views of the state

/** Every component (or provider) id with where it runs. */
function workloads(kind) {
  const byId = new Map();
  for (const host of state.hosts) {
    for (const w of host[kind] || []) {
      const entry = byId.get(w.id) || { id: w.id, name: w.name || w.id, image: w.image_ref || '', hosts: [], instances: 0, app: '' };
      entry.hosts.push({ id: host.host_id, name: host.friendly_name, instances: w.max_instances || 0 });
      entry.instances += w.max_instances || 0;
      entry.app = entry.app || (w.annotations && w.annotations['wasmcloud.dev/appspec']) || '';
      byId.set(w.id, entry);
    }
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}
const iface = (l) => `${l.wit_namespace}:${l.wit_package}/${(l.interfaces || []).join(',')}`;
const shortHost = (id) => (id && id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);

// ---------------------------------------------------------------------------------------------
// Views

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const view = parts[0] || 'overview';
  return { view, app: view === 'apps' && parts[1] ? parts[1] : null };
}

const views = {
  overview() {
    const components = workloads('components');
    const providers = workloads('providers');
    const troubled = state.apps.filter((a) => !['deployed', 'undeployed'].includes(a.status));
    const unhealthy = Object.entries(state.health).filter(([, v]) => v.status === 'unhealthy');
    const tile = (href, count, label, sub) => h('a', { class: 'tile', href, 'data-tile': label }, h('div', { class: 'count' }, count), h('div', { class: 'label' }, label), sub ? h('div', { class: 'sub' }, sub) : null);
    const deployed = state.apps.filter((a) => a.status === 'deployed').length;
    return [
      h('h1', {}, 'Overview'),
      h('div', { class: 'tiles' },
        tile('#/hosts', state.hosts.length, 'Hosts'),
        tile('#/components', components.length, 'Components', `${components.reduce((n, c) => n + c.instances, 0)} instances`),
        tile('#/components', providers.length, 'Providers', unhealthy.length ? h('span', { class: 's-unhealthy' }, `${unhealthy.length} unhealthy`) : null),
        tile('#/links', state.links.length, 'Links'),
        tile('#/config', Object.keys(state.configs).length, 'Configs'),
        tile('#/apps', state.apps.length, 'Applications', `${deployed} deployed`)),
      h('h2', {}, 'Needs attention'),
      troubled.length || unhealthy.length || Object.keys(state.errors).length
        ? h('ul', { class: 'panel attention' },
          troubled.map((a) => h('li', {}, h('a', { href: `#/apps/${encodeURIComponent(a.name)}` }, a.name), ' ', pill(a.status), ' ', h('span', { class: 'muted' }, a.status_message || ''))),
          unhealthy.map(([id, v]) => h('li', {}, `provider ${id} on ${shortHost(v.host)} `, pill('unhealthy'))),
          Object.values(state.errors).map((e) => h('li', { class: 's-failed' }, e)))
        : h('div', { class: 'empty' }, 'Everything is as declared.'),
    ];
  },

  apps() {
    const r = route();
    if (r.app) return appView(r.app);
    const rows = state.apps.map((a) => h('tr', { 'data-app': a.name },
      h('td', {}, h('a', { href: `#/apps/${encodeURIComponent(a.name)}` }, a.name), a.description ? h('div', { class: 'muted' }, a.description) : null),
      h('td', {}, a.deployed_version || h('span', { class: 'muted' }, '—')),
      h('td', {}, a.version),
      h('td', {}, pill(a.status)),
      h('td', {}, a.status_message || '')));
    return [
      h('h1', {}, 'Applications', h('button', { class: 'primary', id: 'open-deploy', onclick: openDeploy }, 'Deploy a manifest…')),
      state.errors.apps ? h('pre', { class: 'error' }, state.errors.apps) : null,
      table(['Name', 'Deployed', 'Latest', 'Status', 'Message'], rows, 'No applications. Deploy a manifest to start one.'),
    ];
  },

  hosts() {
    const cards = state.hosts.map((host) => h('section', { class: 'panel host', 'data-host': host.host_id },
      h('h3', {}, host.friendly_name || host.host_id),
      h('dl', { class: 'kv' },
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, host.host_id),
        h('dt', {}, 'Version'), h('dd', {}, host.version || ''),
        h('dt', {}, 'Uptime'), h('dd', {}, host.uptime_human || ago(host.uptime_seconds)),
        h('dt', {}, 'Labels'), h('dd', { class: 'labels' }, Object.entries(host.labels || {}).map(([k, v]) => h('span', { class: 'label-chip' }, `${k}=${v}`)))),
      host.error ? h('pre', { class: 'error' }, host.error) : null,
      table(['Runs', 'Image', 'Instances'], [
        ...(host.components || []).map((c) => h('tr', {}, h('td', {}, c.id), h('td', { class: 'mono' }, c.image_ref), h('td', { class: 'num' }, c.max_instances))),
        ...(host.providers || []).map((p) => h('tr', {}, h('td', {}, p.id, ' ', h('span', { class: 'muted' }, '(provider)')), h('td', { class: 'mono' }, p.image_ref || ''), h('td', { class: 'num' }, ''))),
      ], 'Runs nothing.')));
    return [h('h1', {}, 'Hosts', h('span', { class: 'muted' }, `${state.hosts.length}`)), cards.length ? h('div', { class: 'hosts' }, cards) : h('div', { class: 'empty' }, 'No host answers on this lattice.')];
  },

  components() {
    const linksOf = (id) => [state.links.filter((l) => l.source_id === id).length, state.links.filter((l) => l.target === id).length];
    const where = (w) => w.hosts.map((x) => h('div', {}, h('span', { class: 'mono', title: x.id }, x.name || shortHost(x.id)), x.instances ? ` ×${x.instances}` : ''));
    const components = workloads('components').map((c) => {
      const [out, into] = linksOf(c.id);
      return h('tr', { 'data-component': c.id },
        h('td', {}, c.id), h('td', { class: 'mono' }, c.image), h('td', {}, where(c)), h('td', { class: 'num' }, c.instances),
        h('td', {}, c.app ? h('a', { href: `#/apps/${encodeURIComponent(c.app)}` }, c.app) : h('span', { class: 'muted' }, 'unmanaged')),
        h('td', { class: 'num' }, `${out} out · ${into} in`));
    });
    const providers = workloads('providers').map((p) => {
      const [out, into] = linksOf(p.id);
      const health = state.health[p.id];
      return h('tr', { 'data-provider': p.id },
        h('td', {}, p.id), h('td', { class: 'mono' }, p.image), h('td', {}, where(p)), h('td', {}, pill(health ? health.status : 'unknown')),
        h('td', {}, p.app ? h('a', { href: `#/apps/${encodeURIComponent(p.app)}` }, p.app) : h('span', { class: 'muted' }, 'unmanaged')),
        h('td', { class: 'num' }, `${out} out · ${into} in`));
    });
    return [
      h('h1', {}, 'Components', h('button', { onclick: openScale, id: 'open-scale' }, 'Scale a component…')),
      table(['Id', 'Image', 'Hosts', 'Instances', 'Application', 'Links'], components, 'No components run on this lattice.'),
      h('h2', {}, 'Providers'),
      table(['Id', 'Image', 'Hosts', 'Health', 'Application', 'Links'], providers, 'No providers run on this lattice (Trellis serves the well-known ones built in).'),
    ];
  },

  links() {
    const rows = state.links.map((l) => h('tr', { 'data-link': `${l.source_id}|${l.name}|${l.wit_namespace}:${l.wit_package}` },
      h('td', {}, l.source_id), h('td', { class: 'mono' }, iface(l)), h('td', {}, l.target), h('td', {}, l.name),
      h('td', {}, (l.source_config || []).join(', ')), h('td', {}, (l.target_config || []).join(', ')),
      h('td', {}, h('button', { class: 'danger', onclick: (e) => deleteLink(l, e.target) }, 'Delete'))));
    return [
      h('h1', {}, 'Links', h('button', { onclick: () => openDialog('#link-dialog'), id: 'open-link' }, 'Put a link…')),
      state.links.length ? graph(state.links) : null,
      table(['Source', 'Interface', 'Target', 'Name', 'Source config', 'Target config', ''], rows, 'No links. Manifests make them with `link` traits; `trellis link put` or “Put a link” makes one by hand.'),
    ];
  },

  config() {
    const rows = Object.entries(state.configs).map(([name, values]) => h('tr', { 'data-config': name },
      h('td', {}, name),
      h('td', {}, h('dl', { class: 'kv' }, Object.entries(values).map(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, v)]))),
      h('td', {}, h('button', { class: 'danger', onclick: (e) => deleteConfig(name, e.target) }, 'Delete'))));
    const secrets = state.secrets;
    return [
      h('h1', {}, 'Named config', h('button', { onclick: () => openDialog('#config-dialog'), id: 'open-config' }, 'Put config…')),
      state.errors.configs ? h('pre', { class: 'error' }, state.errors.configs) : null,
      table(['Name', 'Values', ''], rows, 'No named config.'),
      h('h2', {}, 'Secrets'),
      secrets == null
        ? h('div', { class: 'empty' }, 'This lattice has no local secret store (secrets come from a secrets backend on NATS).')
        : table(['Key', 'Kind', 'Version'], secrets.map((s) => h('tr', { 'data-secret': s.key }, h('td', {}, s.key), h('td', {}, s.kind || ''), h('td', {}, s.version || ''))), 'No secrets. `trellis secret put` adds one; values are never shown here.'),
    ];
  },

  events() {
    const filter = $('#event-filter') ? $('#event-filter').value : eventFilter.text;
    const hideHeartbeats = $('#event-heartbeats') ? !$('#event-heartbeats').checked : eventFilter.hideHeartbeats;
    eventFilter = { text: filter, hideHeartbeats };
    const needle = filter.toLowerCase();
    const shown = state.events.filter((e) => !(hideHeartbeats && e.kind === 'host_heartbeat'))
      .filter((e) => !needle || `${e.kind} ${e.source} ${JSON.stringify(e.data)}`.toLowerCase().includes(needle))
      .slice(-300).reverse();
    const rows = shown.map((e) => h('tr', { 'data-event': e.kind },
      h('td', {}, when(e.received_ms)), h('td', {}, e.kind), h('td', { class: 'mono', title: e.source }, shortHost(e.source)),
      h('td', { class: 'data' }, summary(e))));
    const toolbar = h('div', { class: 'toolbar' },
      h('input', { id: 'event-filter', type: 'search', placeholder: 'Filter: kind, host, app, any text', value: filter, oninput: render }),
      h('label', {}, h('input', { id: 'event-heartbeats', type: 'checkbox', checked: !hideHeartbeats, onchange: render }), ' heartbeats'));
    return [h('h1', {}, 'Events', h('span', { class: 'muted' }, `${shown.length} shown of ${state.events.length}`)), toolbar, h('div', { class: 'events' }, table(['Time', 'Event', 'Source', 'Data'], rows, 'Nothing has happened yet.'))];
  },
};
let eventFilter = { text: '', hideHeartbeats: true };

function summary(e) {
  if (e.kind === 'app_status') {
    const s = e.data.status || e.data.info || {};
    return `${e.source}: ${s.type || ''} ${s.message || ''}`;
  }
  return JSON.stringify(e.data);
}

function appView(name) {
  const summaryRow = state.apps.find((a) => a.name === name);
  const app = state.app[name];
  if (!app || (!app.versions && !app.missing)) {
    loadApp(name).then(render);
    return [h('h1', {}, name), h('p', { class: 'muted' }, 'Loading…')];
  }
  if (!summaryRow && app.missing) return [h('h1', {}, name), h('pre', { class: 'error' }, app.missing), h('a', { href: '#/apps' }, '← Applications')];
  const status = app.status || {};
  const info = status.status || {};
  const deployed = (app.versions || []).find((v) => v.deployed);
  const manifest = app.manifests[app.shownVersion];
  const ids = new Set([...workloads('components'), ...workloads('providers')].filter((w) => w.app === name).map((w) => w.id));
  const links = state.links.filter((l) => ids.has(l.source_id) || ids.has(l.target));
  const versionRows = (app.versions || []).slice().reverse().map((v) => h('tr', { 'data-version': v.version },
    h('td', {}, v.version, v.deployed ? [' ', pill('deployed')] : null),
    h('td', {},
      h('button', { onclick: () => { app.shownVersion = v.version; loadApp(name).then(render); } }, 'Show'), ' ',
      v.deployed ? null : h('button', { class: 'primary', onclick: (e) => act(e.target, `deploy ${name} ${v.version}`, () => deploy(name, v.version)) }, deployed ? 'Deploy (roll back/forward)' : 'Deploy'), ' ',
      h('button', { class: 'danger', onclick: (e) => act(e.target, `delete ${name} ${v.version}`, () => wadm('del', name, { version: v.version }), true) }, 'Delete'))));
  return [
    h('p', {}, h('a', { href: '#/apps' }, '← Applications')),
    h('h1', {}, name, pill(info.type || (summaryRow && summaryRow.status)),
      deployed ? h('button', { id: 'undeploy', class: 'danger', onclick: (e) => act(e.target, `undeploy ${name}`, () => wadm('undeploy', name, {})) }, 'Undeploy') : null),
    h('div', { class: 'panel' },
      h('dl', { class: 'kv' },
        h('dt', {}, 'Deployed version'), h('dd', {}, deployed ? deployed.version : 'none'),
        h('dt', {}, 'Status'), h('dd', { id: 'app-status' }, info.type || ''),
        h('dt', {}, 'Message'), h('dd', { id: 'app-message' }, info.message || ''),
        h('dt', {}, 'Changed'), h('dd', {}, lastChange(name)))),
    h('h2', {}, 'Scalers'),
    table(['Kind', 'Name', 'Status', 'Reason'], (status.scalers || []).map((s) => h('tr', { 'data-scaler': s.id },
      h('td', {}, s.kind), h('td', {}, s.name), h('td', {}, pill((s.status || {}).type)), h('td', {}, (s.status || {}).message || ''))), deployed ? 'No scalers reported yet.' : 'Not deployed: no scalers run.'),
    h('h2', {}, 'Links'),
    links.length ? graph(links) : h('div', { class: 'empty' }, 'No links run for this application.'),
    h('h2', {}, 'Versions'),
    table(['Version', ''], versionRows, 'No versions.'),
    h('h2', {}, `Manifest ${app.shownVersion || ''}`),
    manifest ? h('pre', { class: 'yaml', id: 'manifest-yaml' }, toYaml(manifest)) : h('p', { class: 'muted' }, 'Loading…'),
  ];
}

function lastChange(name) {
  const last = [...state.events].reverse().find((e) => (e.kind === 'app_status' && e.source === name) || (e.kind.startsWith('model_') && e.data.name === name));
  return last ? `${when(last.received_ms)} (${last.kind === 'app_status' ? 'status' : last.kind.replace(/_/g, ' ')})` : 'not since this server started';
}

// Links as a graph: sources left, targets right, in layers by depth.
function graph(links) {
  const nodes = new Map();
  const providers = new Set(workloads('providers').map((p) => p.id));
  for (const l of links) for (const id of [l.source_id, l.target]) if (!nodes.has(id)) nodes.set(id, { id, depth: 0 });
  for (let pass = 0; pass < nodes.size; pass++) {
    let moved = false;
    for (const l of links) {
      const s = nodes.get(l.source_id), t = nodes.get(l.target);
      if (s !== t && t.depth < s.depth + 1 && s.depth + 1 < nodes.size) { t.depth = s.depth + 1; moved = true; }
    }
    if (!moved) break;
  }
  const layers = [];
  for (const n of nodes.values()) (layers[n.depth] = layers[n.depth] || []).push(n);
  const W = 210, H = 34, GAPX = 190, GAPY = 26, PAD = 16;
  layers.forEach((layer, x) => layer.sort((a, b) => a.id.localeCompare(b.id)).forEach((n, y) => { n.x = PAD + x * (W + GAPX); n.y = PAD + y * (H + GAPY); }));
  const width = PAD * 2 + layers.length * W + (layers.length - 1) * GAPX;
  const height = PAD * 2 + Math.max(...layers.map((l) => l.length)) * (H + GAPY) - GAPY;
  const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const edges = links.map((l, i) => {
    const s = nodes.get(l.source_id), t = nodes.get(l.target);
    const x1 = s.x + W, y1 = s.y + H / 2 + (i % 3 - 1) * 4, x2 = t.x, y2 = t.y + H / 2;
    const mx = (x1 + x2) / 2;
    const d = s === t ? `M${x1} ${y1} c40 -40 40 40 0 8` : `M${x1} ${y1} C${mx} ${y1} ${mx} ${y2} ${x2 - 6} ${y2}`;
    return h('g', { class: 'edge', 'data-edge': `${l.source_id}->${l.target}` }, h('title', {}, `${l.source_id} → ${iface(l)} → ${l.target} (${l.name})`),
      h('path', { d, 'marker-end': 'url(#arrow)' }),
      h('text', { x: mx, y: (y1 + y2) / 2 - 5, 'text-anchor': 'middle' }, clip(iface(l), 34)));
  });
  const boxes = [...nodes.values()].map((n) => h('g', { class: providers.has(n.id) ? 'node provider' : 'node', 'data-node': n.id },
    h('title', {}, n.id), h('rect', { x: n.x, y: n.y, width: W, height: H, rx: 6 }), h('text', { x: n.x + 10, y: n.y + H / 2 + 4 }, clip(n.id, 28))));
  return h('div', { class: 'graph' }, h('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'links graph' },
    h('defs', {}, h('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' }, h('path', { class: 'arrow', d: 'M0 0L10 5L0 10z' }))),
    edges, boxes));
}

// ---------------------------------------------------------------------------------------------
// Actions

/** Runs `action` with `button` disabled; says how it went. */
async function act(button, what, action, confirmFirst) {
  if (confirmFirst && !confirm(`Really ${what}?`)) return;
  if (button) button.disabled = true;
  try {
    const reply = await action();
    toast(`${what}: ${(reply && reply.message) || 'done'}`);
    refresh(...ALL);
  } catch (e) {
    toast(`${what} failed: ${e.message}`, true);
  } finally {
    if (button) button.disabled = false;
  }
}

async function deploy(name, version) {
  const reply = await wadm('deploy', name, { version: version || null });
  if (reply.result !== 'acknowledged') throw new Error(reply.message);
  return reply;
}

function openDialog(selector) {
  const dialog = $(selector);
  const error = $('pre.error', dialog);
  if (error) { error.hidden = true; error.textContent = ''; }
  dialog.showModal();
  return dialog;
}
function failIn(dialog, message) {
  const error = $('pre.error', dialog);
  error.textContent = message;
  error.hidden = false;
}

function openDeploy() {
  openDialog('#deploy-dialog');
  $('#deploy-text').focus();
}

async function submitDeploy(event) {
  event.preventDefault();
  const dialog = $('#deploy-dialog');
  const text = $('#deploy-text').value;
  const file = $('#deploy-file').files[0];
  const source = file ? file.name : 'pasted manifest';
  const button = $('#deploy-submit');
  if (!text.trim()) return failIn(dialog, 'Paste a manifest or choose a file first.');
  button.disabled = true;
  try {
    const put = await request(model('put'), text, { 'trellis-source': source });
    if (put.result === 'error') return failIn(dialog, put.message);
    await deploy(put.name, put.current_version);
    dialog.close();
    toast(`deployed ${put.name} ${put.current_version}`);
    location.hash = `#/apps/${encodeURIComponent(put.name)}`;
    refresh(...ALL);
  } catch (e) {
    failIn(dialog, e.message);
  } finally {
    button.disabled = false;
  }
}

const list = (text) => (text || '').split(',').map((s) => s.trim()).filter(Boolean);

async function submitLink(event) {
  event.preventDefault();
  const dialog = $('#link-dialog');
  const f = new FormData(event.target);
  const link = {
    source_id: f.get('source_id').trim(), target: f.get('target').trim(), name: f.get('name').trim() || 'default',
    wit_namespace: f.get('wit_namespace').trim(), wit_package: f.get('wit_package').trim(), interfaces: list(f.get('interfaces')),
    source_config: list(f.get('source_config')), target_config: list(f.get('target_config')),
  };
  try {
    await checked(ctl('link.put'), link);
    dialog.close();
    toast(`put link ${link.source_id} → ${iface(link)} → ${link.target}`);
    refresh('links');
  } catch (e) {
    failIn(dialog, e.message);
  }
}

function deleteLink(l, button) {
  act(button, `delete link ${l.source_id} → ${iface(l)}`, () => checked(ctl('link.del'), { source_id: l.source_id, name: l.name, wit_namespace: l.wit_namespace, wit_package: l.wit_package }), true);
}

async function submitConfig(event) {
  event.preventDefault();
  const dialog = $('#config-dialog');
  const f = new FormData(event.target);
  const name = f.get('name').trim();
  const values = {};
  const lines = f.get('values').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const at = line.indexOf('=');
    if (at < 1) return failIn(dialog, `line ${i + 1}: \`${line}\` is not KEY=VALUE`);
    values[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  try {
    await checked(ctl(`config.put.${name}`), values);
    dialog.close();
    toast(`put config ${name}`);
    refresh('configs');
  } catch (e) {
    failIn(dialog, e.message);
  }
}

function deleteConfig(name, button) {
  act(button, `delete config ${name}`, () => checked(ctl(`config.del.${name}`)), true);
}

function openScale() {
  const select = $('#scale-form select[name=host_id]');
  select.replaceChildren(...state.hosts.map((host) => h('option', { value: host.host_id }, `${host.friendly_name || ''} ${shortHost(host.host_id)}`)));
  openDialog('#scale-dialog');
}

async function submitScale(event) {
  event.preventDefault();
  const dialog = $('#scale-dialog');
  const f = new FormData(event.target);
  const host = f.get('host_id');
  const body = { host_id: host, component_id: f.get('component_id').trim(), component_ref: f.get('component_ref').trim(), count: Number(f.get('count')) };
  try {
    const reply = await checked(ctl(`component.scale.${host}`), body);
    dialog.close();
    toast(`scale ${body.component_id} to ${body.count}: ${reply.message || 'accepted'}`);
    refresh('hosts');
  } catch (e) {
    failIn(dialog, e.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

function render() {
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.getAttribute('href').replace(/^#\/?/, '').split('/')[0] === (r.view === 'overview' ? '' : r.view));
  const view = views[r.view] || views.overview;
  // Keep the event filter's focus and caret across live re-renders.
  const focused = document.activeElement && document.activeElement.id;
  const caret = focused === 'event-filter' ? document.activeElement.selectionStart : null;
  $('#view').replaceChildren(...[view()].flat(Infinity).filter(Boolean));
  if (focused && $(`#${focused}`)) {
    $(`#${focused}`).focus();
    if (caret != null) $(`#${focused}`).setSelectionRange(caret, caret);
  }
  document.body.dataset.loaded = ALL.every((p) => state.loaded.has(p)) ? 'yes' : 'no';
}

async function start() {
  try {
    const r = await fetch('/v1/info', { credentials: 'same-origin' });
    if (!r.ok) throw new Error((await r.text()).trim());
    state.info = await r.json();
    LATTICE = state.info.lattice;
    $('#lattice').textContent = `lattice ${state.info.lattice} · ${state.info.mode} · Trellis ${state.info.version}`;
  } catch (e) {
    $('#view').replaceChildren(h('pre', { class: 'error' }, `Cannot reach Trellis: ${e.message}`));
    return;
  }
  $('#deploy-form').addEventListener('submit', submitDeploy);
  $('#deploy-cancel').addEventListener('click', () => $('#deploy-dialog').close());
  $('#deploy-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (file) $('#deploy-text').value = await file.text();
  });
  $('#link-form').addEventListener('submit', submitLink);
  $('#config-form').addEventListener('submit', submitConfig);
  $('#scale-form').addEventListener('submit', submitScale);
  for (const b of document.querySelectorAll('[data-close]')) b.addEventListener('click', () => b.closest('dialog').close());
  window.addEventListener('hashchange', render);
  follow();
  render();
}

start();
