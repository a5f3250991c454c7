// fastlvs monitor: one event per second from /api/events redraws the page.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    e.append(...kids);
    return e;
  };
  const set = (e, text) => { if (e.textContent !== text) e.textContent = text; };

  // Numbers for people: 1.2 k, 3.4 M; bytes as bits per second; durations.
  const human = (n, unit) => {
    const a = Math.abs(n);
    for (const [f, p] of [[1e9, " G"], [1e6, " M"], [1e3, " k"]]) if (a >= f) return (n / f).toFixed(a >= 10 * f ? 0 : 1) + p + unit;
    return Math.round(n) + (unit ? " " + unit : "");
  };
  const pps = (n) => human(n, "pps");
  const bps = (n) => human(8 * n, "bit/s");
  const ago = (ms) => {
    let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  };
  const latency = (ms) => (ms < 1 ? Math.round(ms * 1000) + " µs" : ms < 1000 ? ms.toFixed(1) + " ms" : (ms / 1000).toFixed(2) + " s");

  let session = { role: "viewer", csrf: "" };
  const history = {}; // worker -> samples, oldest first
  const HISTORY = 180;

  async function post(url, body) {
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf }, body: JSON.stringify(body || {}) });
    if (!r.ok) throw new Error((await r.text()).trim() || r.status + " " + r.statusText);
    return r;
  }

  // ---- cores ----
  function drawChart(canvas, samples) {
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...samples.map((s) => Math.max(s.rx_pps, s.tx_pps)));
    const x = (i) => w - (samples.length - 1 - i) * (w / (HISTORY - 1));
    for (const [key, color] of [["tx_pps", "#e08a2c"], ["rx_pps", "#2c7be0"]]) {
      g.beginPath(); g.strokeStyle = color; g.lineWidth = 1.5;
      samples.forEach((s, i) => { const y = h - 2 - (s[key] / max) * (h - 14); i ? g.lineTo(x(i), y) : g.moveTo(x(i), y); });
      g.stroke();
    }
    g.font = "11px sans-serif"; g.fillStyle = "#667"; g.fillText("max " + pps(max), 4, 11);
    g.fillStyle = "#2c7be0"; g.fillText("in", w - 40, 11); g.fillStyle = "#e08a2c"; g.fillText("out", w - 24, 11);
  }

  function renderCores(cores) {
    const box = $("cores");
    for (const c of cores) {
      const h = (history[c.worker] = (history[c.worker] || []).concat(c.samples).slice(-HISTORY));
      let card = $("core-" + c.worker);
      if (!card) {
        card = el("div", { class: "core", id: "core-" + c.worker },
          el("h3", {}, "worker " + c.worker + (c.cpu >= 0 ? " · cpu " + c.cpu : "")),
          el("div", { class: "big" }, el("span", { id: "core-" + c.worker + "-rx", "data-value": "0" }, "–"), " in"),
          el("div", { class: "small", id: "core-" + c.worker + "-tx" }),
          el("canvas", { "aria-label": "packets per second, last three minutes" }));
        box.append(card);
      }
      const last = h[h.length - 1] || { rx_pps: 0, tx_pps: 0, rx_bps: 0, tx_bps: 0 };
      const rx = $("core-" + c.worker + "-rx");
      rx.dataset.value = String(last.rx_pps);
      set(rx, pps(last.rx_pps));
      set($("core-" + c.worker + "-tx"), pps(last.tx_pps) + " out · " + bps(last.rx_bps) + " in · " + c.connections + " conns");
      drawChart(card.querySelector("canvas"), h);
    }
  }

  function renderDrops(drops) {
    const box = $("drops");
    if (!drops.length) { box.replaceChildren(el("p", { class: "quiet" }, "No drops.")); return; }
    box.replaceChildren(el("table", {}, el("tr", {}, el("th", {}, "reason"), el("th", {}, "per second"), el("th", {}, "total")),
      ...drops.map((d) => el("tr", {}, el("td", {}, d.reason), el("td", { class: "num" }, pps(d.rate)), el("td", { class: "num" }, human(d.total, ""))))));
  }

  // ---- services: rows are built once per real server and updated in place,
  // so a weight being typed survives the next event.
  function realRow(svc, r) {
    const change = (action, weight) => async () => {
      if (action === "drain" && !confirm("Remove " + r.address + " from " + svc.key_text + "? Its connections drain.")) return;
      try {
        await post("/api/real-server", { service: svc.key, real: r.address, action, weight });
        set($("message"), action + " " + r.address + ": done");
      } catch (e) { set($("message"), action + " " + r.address + " refused: " + e.message); }
    };
    const weight = el("input", { type: "number", min: "0", max: "65535", class: "weight", "aria-label": "weight of " + r.address });
    weight.value = r.weight;
    const actions = session.role === "admin"
      ? el("td", { class: "actions" }, weight,
          el("button", { type: "button", "data-action": "weight", onclick: () => change("weight", Number(weight.value))() }, "Set"),
          el("button", { type: "button", "data-action": "quiesce", onclick: change("quiesce") }, "Quiesce"),
          el("button", { type: "button", "data-action": "restore", onclick: change("restore") }, "Restore"),
          el("button", { type: "button", "data-action": "drain", onclick: change("drain") }, "Drain"))
      : el("td", { class: "num weight-ro" });
    return el("tr", { "data-real": r.address },
      el("td", { class: "addr" }, r.address), el("td", { class: "health", "data-label": "health" }), el("td", { class: "num w", "data-label": "weight" }),
      el("td", { class: "num conns", "data-label": "conns active/inactive" }), el("td", { class: "num rate", "data-label": "in" }), actions);
  }

  function renderServices(services) {
    const box = $("services");
    const seen = new Set();
    for (const svc of services) {
      const id = "svc-" + svc.key_text.replace(/[^A-Za-z0-9]/g, "_");
      seen.add(id);
      let sec = $(id);
      if (!sec) {
        sec = el("div", { class: "service", id, "data-service": svc.key_text },
          el("h3", {}, (svc.name ? svc.name + " · " : "") + svc.key_text, el("span", { class: "meta" })),
          el("table", {}, el("thead", {}, el("tr", {}, ...["real server", "health", "weight", "conns active/inactive", "in", ""].map((t) => el("th", {}, t)))), el("tbody")));
        box.append(sec);
      }
      set(sec.querySelector(".meta"), " " + svc.scheduler + " · " + svc.forward + " · " + human(svc.rates.cps, "conn/s") + " · " + pps(svc.rates.in_pps) + " in · " + human(svc.connections, "") + " conns total");
      const body = sec.querySelector("tbody"), rows = new Set();
      for (const r of svc.reals || []) {
        rows.add(r.address);
        let row = body.querySelector('tr[data-real="' + CSS.escape(r.address) + '"]');
        if (!row) { row = realRow(svc, r); body.append(row); }
        const hc = row.querySelector(".health"), h = r.health;
        hc.dataset.state = h.state;
        set(hc, h.state + (h.state !== "unchecked" ? " · " + latency(h.latency_ms) + (h.since ? " · for " + ago(h.since) : "") : "") + (h.last_error ? " · " + h.last_error : ""));
        set(row.querySelector(".w"), String(r.weight));
        row.dataset.weight = String(r.weight);
        set(row.querySelector(".conns"), r.active_conns + " / " + r.inactive_conns);
        set(row.querySelector(".rate"), pps(r.rates.in_pps));
        const ro = row.querySelector(".weight-ro");
        if (ro) set(ro, "");
        const input = row.querySelector("input.weight");
        if (input && document.activeElement !== input) input.value = r.weight;
      }
      for (const row of body.querySelectorAll("tr")) if (!rows.has(row.dataset.real)) row.remove();
    }
    for (const sec of box.querySelectorAll(".service")) if (!seen.has(sec.id)) sec.remove();
  }

  function renderReloads(r) {
    let text = "reloads " + r.reloads + (r.failures ? " · refused " + r.failures : "");
    if (r.last) text += " · last " + r.last + " " + ago(r.last_at) + " ago";
    set($("reloads"), text);
    $("reloads").className = r.last === "refused" ? "bad" : "";
  }

  function renderSync(s) {
    set($("sync"), s ? "sync" + (s.peer ? " → " + s.peer + " " + human(s.sent, "sent") : "") + (s.listen ? " ← " + s.listen : "") +
      (s.send_errors + s.bad_datagrams + s.inbox_full ? " · errors " + (s.send_errors + s.bad_datagrams + s.inbox_full) : "") : "");
  }

  function connect() {
    const src = new EventSource("/api/events");
    src.onmessage = (e) => {
      const st = JSON.parse(e.data);
      renderCores(st.cores); renderDrops(st.drops || []); renderServices(st.services || []); renderReloads(st.reloads); renderSync(st.sync);
      set($("live"), st.error ? "error: " + st.error : "live");
      $("live").className = st.error ? "bad" : "ok";
    };
    src.addEventListener("logout", () => { src.close(); location.href = "/login"; });
    src.onerror = () => { set($("live"), "reconnecting…"); $("live").className = "stale"; };
  }

  async function start() {
    const r = await fetch("/api/session");
    if (!r.ok) { location.href = "/login"; return; }
    session = await r.json();
    set($("who"), session.user + " (" + session.role + ")");
    document.body.dataset.role = session.role;
    $("logout").addEventListener("click", async () => { try { await post("/logout"); } finally { location.href = "/login"; } });
    connect();
  }
  start();
})();
