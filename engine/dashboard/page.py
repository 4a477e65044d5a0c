"""The dashboard page: one HTML document with its CSS and a small vanilla script, no library.

Live (``/dashboard``), the script polls ``dashboard.json`` (relative to the page, so the page
works under any path prefix) every few seconds and redraws in place: no reload, no network
beyond its own origin. Static (``csla dashboard --static``), the data is embedded in the page
as a JSON data block and drawn once. Data is written with ``textContent`` only, never as HTML.

With ``CSLA_WEB_TOKEN`` set, the page is opened either through a proxy that adds
``Authorization: Bearer …`` to every request (the script's fetches then need nothing), or once
as ``dashboard?access_token=…``: the script takes the token from its own URL, removes it from the
address bar and the history entry at once, keeps it in memory only (not in storage; a reload
needs the link again) and sends it as the ``Authorization`` header with each ``dashboard.json``.
A quarantined contract gets a red flag with its reason, and the header a count.
"""

from __future__ import annotations

import html
from typing import Any

import orjson

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f1f3f5;color:#212529;font:14px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif}
header{background:#212529;color:#f8f9fa;padding:12px 24px;display:flex;gap:16px;
align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}header .meta{color:#adb5bd;font-size:12px}
#conn{margin-left:auto;font-size:12px;padding:2px 8px;border-radius:10px;background:#495057}
#conn.live{background:#2b8a3e}#conn.down{background:#c92a2a}
main{padding:16px 24px 40px;max-width:1280px;margin:0 auto}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 16px}
.card{flex:1 1 140px;background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:8px 12px}
.card .k{font-size:11px;color:#868e96;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
h2{font-size:15px;margin:20px 0 6px}
section.contract{background:#fff;border:1px solid #dee2e6;border-radius:6px;margin:0 0 12px;
padding:8px 12px}
section.contract h3{margin:2px 0 6px;font-size:15px;display:flex;gap:10px;align-items:center}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{border-bottom:1px solid #e9ecef;padding:4px 8px;text-align:left}
th{color:#495057;font-weight:600;background:#f8f9fa}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;
color:#fff;background:#868e96}
.s-ok{background:#2b8a3e}.s-at-risk{background:#e67700}.s-failing{background:#d9480f}
.s-breached{background:#c92a2a}.s-no-data{background:#868e96}
.s-quarantined{background:#c92a2a;outline:2px solid #ffa8a8}
section.contract.quarantined{border:2px solid #c92a2a;background:#fff5f5}
p.quarantine{color:#c92a2a;font-weight:600;margin:0 0 6px}
.bar{display:inline-block;width:80px;height:8px;background:#e9ecef;border-radius:4px;
vertical-align:middle;margin-right:6px;overflow:hidden}.bar i{display:block;height:100%}
.muted{color:#868e96}
details.previous{margin:8px 0 2px}details.previous summary{cursor:pointer;font-weight:600;
color:#495057;margin:0 0 4px}
"""

_SCRIPT = r"""
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const interval = Number(document.body.dataset.interval || "2000");
  // The token, if the page was opened as dashboard?access_token=...: kept in this closure only,
  // and taken out of the address bar and history entry before anything else happens.
  const url = new URL(window.location.href);
  const token = url.searchParams.get("access_token");
  if (token !== null) {
    url.searchParams.delete("access_token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  const headers = token ? {"Authorization": "Bearer " + token} : {};
  const SYM = {percent: "%", ms: "ms", minutes: "min", hours: "h", count: ""};
  const CMP = {">=": "≥", "<=": "≤", ">": ">", "<": "<"};
  function num(v, unit) {
    if (v === null || v === undefined) return "–";
    let t = unit === "percent" ? v.toFixed(3) : unit === "ms" ? v.toFixed(1)
      : Number.isInteger(v) ? String(v) : v.toPrecision(4);
    const s = SYM[unit] === undefined ? (unit || "") : SYM[unit];
    return s ? t + " " + s : t;
  }
  function when(t) { return t ? t.replace("T", " ").replace(/:00Z$|Z$/, "Z") : "–"; }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  function badge(status) {
    return el("span", {class: "badge s-" + status.replace(/ /g, "-"), text: status});
  }
  function table(headers, rows, numeric) {
    const head = el("tr", {}, ...headers.map((h) => el("th", {text: h})));
    const body = rows.map((r) => el("tr", r.attrs || {}, ...r.cells.map((c, i) =>
      c instanceof Node ? el("td", numeric.includes(i) ? {class: "n"} : {}, c)
        : el("td", numeric.includes(i) ? {class: "n", text: c} : {text: c}))));
    return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
  }
  function budget(v) {
    if (v === null || v === undefined) return document.createTextNode("–");
    const pct = Math.max(0, Math.min(1, v)) * 100;
    const color = v < 0 ? "#c92a2a" : v < 0.25 ? "#e67700" : "#2b8a3e";
    const bar = el("span", {class: "bar"}, el("i", {style: "width:" + pct + "%;background:" + color}));
    return el("span", {style: "white-space:nowrap"}, bar, (v * 100).toFixed(1) + " %");
  }
  function cards(s) {
    const items = [["contracts", s.contracts], ["objectives ok", s.ok + " / " + s.objectives],
      ["at risk", s.at_risk], ["open breaches", s.open_breaches],
      ["burn-rate warnings", s.active_warnings], ["compensations", s.compensations],
      ["quarantined", s.quarantined || 0], ["dead letters", s.dead_letters || 0],
      ["late events", s.late_events || 0]];
    return items.map(([k, v]) => el("div", {class: "card"}, el("div", {class: "k", text: k}),
      el("div", {class: "v", "data-test": k.replace(/ /g, "-"), text: String(v)})));
  }
  function contract(c) {
    const rows = c.objectives.map((o) => ({attrs: {"data-objective": o.objective_id}, cells: [
      o.objective_id, o.sli, o.target || "–", num(o.period_value, o.unit),
      o.judged_end ? num(o.judged_value, o.unit) + " (" + (o.judged_end_local ||
        when(o.judged_end)) + ")" : "–",
      budget(o.budget_remaining), o.warning || "–",
      String(o.open_breaches), badge(o.status)]}));
    const grade = c.grade === null ? "" : "grade " + c.grade + " (score " + c.score + ")";
    const quarantined = typeof c.quarantined === "string";
    return el("section", {class: quarantined ? "contract quarantined" : "contract",
      "data-contract": c.contract_id},
      el("h3", {}, el("span", {text: c.contract_id}), badge(c.status),
        quarantined ? el("span", {class: "badge s-quarantined", "data-quarantined":
          c.contract_id, text: "⚠ quarantined"}) : null,
        el("span", {class: "muted", "data-period": c.contract_id, text: (c.period ?
          c.period + " · " : "") + "revision " + c.contract_version + " · as of " +
          (c.as_of_local || when(c.as_of)) + " (" + c.timezone + ")" +
          (grade ? " · " + grade : "")})),
      quarantined ? el("p", {class: "quarantine", text: "Quarantined: " + c.quarantined +
        " — telemetry of this contract could not be evaluated and was dead-lettered, so its " +
        "figures may be incomplete; other contracts are not affected."}) : null,
      table(["objective", "SLI", "target", "period so far", "last judged window",
        "budget left", "warning", "open breaches", "status"], rows, [3, 4, 7]),
      c.previous ? previous(c.previous) : null);
  }
  function previous(p) {
    const rows = p.objectives.map((o) => ({attrs: {"data-previous-objective": o.objective_id},
      cells: [o.objective_id, o.target || "–", num(o.period_value, o.unit),
        o.period_compliant === null ? "–" : (o.period_compliant ? "met" : "missed"),
        budget(o.budget_remaining), o.credit || "–"]}));
    return el("details", {class: "previous", open: "", "data-previous": p.period},
      el("summary", {text: "Previous period: " + p.period + " (closed)"}),
      table(["objective", "target", "period value", "verdict", "budget left at close",
        "credit"], rows, [2]));
  }
  function render(d) {
    $("cards").replaceChildren(...cards(d.summary));
    $("contracts").replaceChildren(...d.contracts.map(contract));
    if (!d.contracts.length) $("contracts").append(el("p", {class: "muted", text: "No records yet."}));
    $("breaches").replaceChildren(d.open_breaches.length ? table(
      ["contract", "objective", "objective value", "observed", "window", "detected", "priority"],
      d.open_breaches.map((b) => ({attrs: {"data-breach": b.breach_id}, cells: [b.contract_id,
        b.objective_id, (CMP[b.comparator] || b.comparator) + " " + b.threshold, num(b.observed),
        (b.window_start_local || when(b.window_start)) + " → " + (b.window_end_local ||
        when(b.window_end)), b.detected_local || when(b.detected_at), b.priority === null ? "–" :
        String(b.priority)]})), [3, 6]) : el("p", {class: "muted", text: "None open."}));
    $("warnings").replaceChildren(d.warnings.length ? table(
      ["contract", "objective", "severity", "burn rate long / short", "budget left (now)",
        "detected"],
      d.warnings.map((w) => ({cells: [w.contract_id, w.objective_id, w.severity,
        num(w.burn_rate_long) + " / " + num(w.burn_rate_short), budget(w.budget_remaining),
        w.detected_local || when(w.detected_at)]})), [3]) : el("p", {class: "muted",
        text: "None firing."}));
    $("compensations").replaceChildren(d.compensations.length ? table(
      ["contract", "objective", "period", "observed", "tier", "credit", "extension h"],
      d.compensations.map((c) => ({attrs: {"data-compensation": c.compensation_id}, cells: [
        c.contract_id, c.objective_id, c.period || (when(c.period_start) + " → " +
        when(c.period_end)),
        num(c.observed), c.tier === null ? "–" : String(c.tier),
        c.credit_amount + " " + c.currency + " (" + c.credit_percent + " %)",
        String(c.extension_hours)]})), [3, 4, 5, 6])
      : el("p", {class: "muted", text: "None yet."}));
    $("providers").replaceChildren(d.provider_scorecards.length ? table(
      ["provider", "period", "score", "grade"], d.provider_scorecards.map((p) => ({cells: [
        p.provider_id, p.period || (when(p.period_start) + " → " + when(p.period_end)),
        num(p.total_score),
        String(p.grade)]})), [2, 3]) : el("p", {class: "muted", text: "No scorecard."}));
    $("version").textContent = (d.served_at ? "figures as of " + when(d.served_at) + " · " : "")
      + d.version + (d.version === 1 ? " update" : " updates") + " received";
  }
  const embedded = $("csla-data");
  if (embedded) {
    render(JSON.parse(embedded.textContent));
    $("conn").textContent = "snapshot";
    return;
  }
  async function tick() {
    try {
      const response = await fetch("dashboard.json", {cache: "no-store", headers});
      if (!response.ok) throw new Error("HTTP " + response.status);
      render(await response.json());
      $("conn").textContent = "live";
      $("conn").className = "live";
    } catch (err) {
      $("conn").textContent = "not updating: " + err.message;
      $("conn").className = "down";
    } finally {
      setTimeout(tick, interval);
    }
  }
  tick();
})();
"""


def render_page(
    data: dict[str, Any] | None = None, *, interval_ms: int = 2000, title: str = "CSLA dashboard"
) -> str:
    """The page; with ``data`` (a ``view``), a static snapshot that needs no server."""
    embedded = ""
    if data is not None:
        text = orjson.dumps(data).decode().replace("<", "\\u003c")
        embedded = f'<script type="application/json" id="csla-data">{text}</script>\n'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body data-interval="{int(interval_ms)}">
<header><h1>{html.escape(title)}</h1><span class="meta" id="version">loading…</span>
<span id="conn">connecting…</span></header>
<main>
<div class="cards" id="cards"></div>
<h2>Contracts and current compliance (assessment period so far)</h2>
<div id="contracts"></div>
<h2>Open breaches</h2><div id="breaches"></div>
<h2>Burn-rate warnings firing</h2><div id="warnings"></div>
<h2>Recent compensations</h2><div id="compensations"></div>
<h2>Provider scorecards</h2><div id="providers"></div>
</main>
{embedded}<script>{_SCRIPT}</script>
</body></html>
"""
