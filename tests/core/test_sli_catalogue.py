"""The Annex A catalogue beyond availability and latency, against hand-computed values.

Gauge SLIs take a statistic of one field per window: mean = Σx/n, max, min, sum = Σx, and the
ratios PUE = ΣP_total/ΣP_IT and R = ΣE_R / Σ[E_total − (E_elec − E_self − E_green) × a].
A sample counts in the window holding its event_time; outside service time (or exempt) it is
not evaluated, except the energy ratios, which are facility figures over all hours.
Instants are written in +08:00.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.calendar import utc_iso


def t(hms: str, day: int = 10) -> str:
    return f"2026-03-{day:02d}T{hms}+08:00"


def rule(sli: str, comparator: str, threshold: float, window: str = "5m", **extra: Any) -> str:
    text = f"- id: g\n  sli: {sli}\n  comparator: '{comparator}'\n  threshold: {threshold}\n"
    text += f"  window: {window}\n"
    for key, value in extra.items():
        text += f"  {key}: {value}\n"
    return text


def gauge(csla: Any, out: Any, start: str) -> dict[str, Any]:
    metric: dict[str, Any] = csla.metric_at(out, "g", start)
    return metric


# ── storage and network samples ─────────────────────────────────────────────────────────────
def test_storage_read_speed_is_the_mean_of_the_window_samples(csla: Any) -> None:
    rules = csla.ruleset(rule("storage_read_speed", ">=", 200))
    lines = [
        # window 10:00–10:05: 300, 100, 170 → mean 570/3 = 190 MB/s < 200: not compliant
        csla.event("storage_io", t("10:00:00"), read_mbps=300.0),
        csla.event("storage_io", t("10:02:00"), read_mbps=100.0),
        csla.event("storage_io", t("10:04:59.999"), read_mbps=170.0),
        # window 10:05–10:10 starts exactly at its edge: 250 → mean 250
        csla.event("storage_io", t("10:05:00"), read_mbps=250.0),
        # a sample without read_mbps does not count (write only)
        csla.event("storage_io", t("10:06:00"), write_mbps=10.0),
    ]
    _, out = csla.run(rules, lines, until=t("10:10:00"))
    first, second = gauge(csla, out, t("10:00:00")), gauge(csla, out, t("10:05:00"))
    assert (first["value"], first["total"], first["unit"]) == (190.0, 3, "MB/s")
    assert first["compliant"] is False
    assert (second["value"], second["total"], second["compliant"]) == (250.0, 1, True)
    # a window-based objective: breach opened on the first window, resolved on the second
    assert [b["status"] for b in out.breaches] == ["opened", "resolved"]


def test_storage_write_speed_min_statistic(csla: Any) -> None:
    rules = csla.ruleset(rule("storage_write_speed", ">=", 50, statistic="min"))
    lines = [
        csla.event("storage_io", t("10:01:00"), write_mbps=80.0),
        csla.event("storage_io", t("10:02:00"), write_mbps=40.0),
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    assert gauge(csla, out, t("10:00:00"))["value"] == 40.0


def test_network_jitter_loss_throughput_and_congestion(csla: Any) -> None:
    objectives = "\n".join(
        [
            rule("network_jitter", "<=", 5).replace("id: g", "id: jit"),
            rule("network_loss", "<=", 1).replace("id: g", "id: loss"),
            rule("network_throughput", ">=", 900, statistic="min").replace("id: g", "id: thr"),
            rule("network_congestion", "<=", 10, congestion_loss=0.02).replace("id: g", "id: con"),
        ]
    )
    rules = csla.ruleset(objectives)
    samples = [  # jitter ms, loss ratio, throughput Mbit/s
        (2.0, 0.0, 950.0),
        (4.0, 0.01, 1000.0),
        (9.0, 0.03, 880.0),  # loss 3 % ≥ 2 %: congested
        (1.0, 0.02, 990.0),  # loss exactly 2 %: congested (≥)
    ]
    lines = [
        csla.event("network", t(f"10:0{i}:00"), jitter_ms=j, loss_ratio=loss, throughput_mbps=thr)
        for i, (j, loss, thr) in enumerate(samples)
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    at = t("10:00:00")
    # jitter mean (2+4+9+1)/4 = 4 ms; loss mean (0+1+3+2)/4 = 1.5 %; min throughput 880;
    # congestion: 2 of 4 samples → 50 %
    assert csla.metric_at(out, "jit", at)["value"] == 4.0
    assert csla.metric_at(out, "loss", at)["value"] == pytest.approx(1.5)
    assert csla.metric_at(out, "thr", at)["value"] == 880.0
    assert csla.metric_at(out, "con", at)["value"] == 50.0
    assert csla.metric_at(out, "loss", at)["unit"] == "percent"


# ── utilisation and capacity ────────────────────────────────────────────────────────────────
def test_pool_utilization_of_the_chosen_ratio_and_concurrency_max(csla: Any) -> None:
    objectives = rule("pool_utilization", ">=", 60, field="cpu").replace("id: g", "id: util")
    objectives += rule("concurrency", ">=", 100).replace("id: g", "id: conc")
    objectives += rule("concurrency", ">=", 10, field="users").replace("id: g", "id: users")
    rules = csla.ruleset(objectives)
    lines = [
        csla.event("utilization", t("10:00:10"), cpu=0.5, gpu=0.9, tasks=40, users=7),
        csla.event("utilization", t("10:03:10"), cpu=0.8, tasks=120),
        csla.event("utilization", t("10:04:10"), gpu=0.1, users=12),  # no cpu, no tasks
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    at = t("10:00:00")
    assert csla.metric_at(out, "util", at)["value"] == pytest.approx(65.0)  # (50+80)/2 %
    assert csla.metric_at(out, "conc", at)["value"] == 120.0
    assert csla.metric_at(out, "users", at)["value"] == 12.0


def test_provisioning_and_scaling_times(csla: Any) -> None:
    objectives = rule("provisioning_time", "<=", 300).replace("id: g", "id: prov")
    objectives += rule("provisioning_time", "<=", 300, statistic="mean").replace("id: g", "id: pm")
    objectives += rule("scale_out_time", "<=", 600).replace("id: g", "id: out")
    objectives += rule("scale_in_time", "<=", 600).replace("id: g", "id: in")
    rules = csla.ruleset(objectives)

    def timed(kind: str, requested: str, completed: str, **kw: Any) -> bytes:
        return csla.event(
            kind,
            completed,
            requested_at=utc_iso(csla.ms(requested)),
            completed_at=utc_iso(csla.ms(completed)),
            **kw,
        )

    lines = [
        # provisioning 120 s and 420 s (requested before the window: counts where it completed)
        timed("provisioning", t("09:59:00"), t("10:01:00")),
        timed("provisioning", t("09:57:00"), t("10:04:00")),
        timed("scaling", t("10:00:00"), t("10:02:30"), direction="out", nodes=4),  # 150 s
        timed("scaling", t("10:01:00"), t("10:03:00"), direction="in"),  # 120 s
        timed("scaling", t("10:00:00"), t("10:04:00"), direction="out"),  # 240 s
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    at = t("10:00:00")
    assert csla.metric_at(out, "prov", at)["value"] == 420.0  # default statistic: max
    assert csla.metric_at(out, "pm", at)["value"] == 270.0  # (120 + 420) / 2
    assert csla.metric_at(out, "out", at)["value"] == 240.0
    assert csla.metric_at(out, "in", at)["value"] == 120.0
    assert csla.metric_at(out, "prov", at)["compliant"] is False


def test_calls_and_tokens_sum_per_window(csla: Any) -> None:
    objectives = rule("calls", ">=", 1).replace("id: g", "id: calls")
    objectives += rule("tokens", "<=", 1000).replace("id: g", "id: tok")
    rules = csla.ruleset(objectives)
    lines = [
        csla.request(t("10:00:00"), True, 10, tokens_in=100, tokens_out=300),
        csla.request(t("10:01:00"), False, 10, tokens_in=50),
        csla.request(t("10:02:00"), True, 10),
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    assert csla.metric_at(out, "calls", t("10:00:00"))["value"] == 3.0
    assert csla.metric_at(out, "tok", t("10:00:00"))["value"] == 450.0


# ── service time: gauges count only evaluated minutes, energy ratios all hours ────────────────
def test_gauge_samples_outside_service_time_are_not_evaluated(csla: Any) -> None:
    # 5×8 (09:00–17:00 Mon–Fri); 2026-03-10 is a Tuesday
    service = "preset: 5x8\ntimezone: Asia/Shanghai"
    rules = csla.ruleset(rule("network_jitter", "<=", 5, window="1h"), service_time=service)
    lines = [
        csla.event("network", t("08:59:59"), jitter_ms=100.0),  # before service time
        csla.event("network", t("09:00:00"), jitter_ms=2.0),  # first service minute
        csla.event("network", t("09:30:00"), jitter_ms=4.0),
    ]
    _, out = csla.run(rules, lines, until=t("10:00:00"))
    metric = gauge(csla, out, t("09:00:00"))
    assert (metric["value"], metric["total"]) == (3.0, 2)


def test_pue_and_renewable_ratio_over_a_period(csla: Any) -> None:
    objectives = rule("pue", "<=", 1.3, window="1d").replace("id: g", "id: pue")
    objectives += rule("renewable_ratio", ">=", 30, window="1d", grid_renewable_share=0.25).replace(
        "id: g", "id: ren"
    )
    rules = csla.ruleset(objectives, service_time="preset: 5x8\ntimezone: Asia/Shanghai")

    def energy(at: str, total: float, it: float, **kw: Any) -> bytes:
        return csla.event(
            "energy",
            at,
            period_start=utc_iso(csla.ms(at) - 3_600_000),
            period_end=utc_iso(csla.ms(at)),
            total_kwh=total,
            it_kwh=it,
            **kw,
        )

    lines = [
        # a Saturday reading (outside 5×8) still counts: PUE is a facility figure
        energy("2026-03-14T03:00:00+08:00", 1300.0, 1000.0, renewable_kwh=200.0,
               grid_kwh=1200.0, self_kwh=100.0, green_kwh=100.0),
        energy("2026-03-14T04:00:00+08:00", 1500.0, 1000.0, renewable_kwh=400.0),
    ]  # fmt: skip
    _, out = csla.run(rules, lines, until="2026-03-15T00:00:00+08:00")
    day = "2026-03-14T00:00:00+08:00"
    # PUE = (1300 + 1500) / (1000 + 1000) = 1.4 > 1.3
    pue = csla.metric_at(out, "pue", day)
    assert (pue["value"], pue["compliant"], pue["unit"]) == (pytest.approx(1.4), False, "ratio")
    # R: E_R = 200 + 400 = 600
    #   reading 1: E_total − (E_elec − E_self − E_green)·a = 1300 − (1200 − 100 − 100)·0.25 = 1050
    #   reading 2: no grid_kwh → E_elec = E_total: 1500 − 1500·0.25 = 1125
    #   R = 600 / (1050 + 1125) = 27.586… % < 30
    ren = csla.metric_at(out, "ren", day)
    assert ren["value"] == pytest.approx(100 * 600 / 2175)
    assert ren["compliant"] is False


# ── period values and compensation from gauges ──────────────────────────────────────────────
def test_gauge_period_value_merges_windows_and_drives_compensation(csla: Any) -> None:
    tiers = "  compensation:\n    - {bound: 10, credit_percent: 10}\n"
    rules = csla.ruleset(
        rule("network_jitter", "<=", 10, window="1h") + tiers,
        assessment="period: rolling_days\ndays: 1",
    )
    lines = [
        csla.event("network", t("10:00:00"), jitter_ms=4.0),
        csla.event("network", t("10:30:00"), jitter_ms=8.0),
        csla.event("network", t("11:15:00"), jitter_ms=27.0),
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", day=11))
    # windows: 10:00 mean 6, 11:00 mean 27; period mean over all samples (4+8+27)/3 = 13
    # (not the mean of window means, 16.5)
    assert gauge(csla, out, t("10:00:00"))["value"] == 6.0
    assert gauge(csla, out, t("11:00:00"))["period_value"] is None
    comp = csla.compensation(out, "g")
    assert comp["observed"] == 13.0
    assert (comp["tier"], comp["credit_percent"], comp["credit_amount"]) == (0, 10.0, "100.00")


def test_gauges_give_the_same_values_in_any_batch_split(csla: Any) -> None:
    rules = csla.ruleset(
        rule("network_jitter", "<=", 10, window="5m")
        + rule("pue", "<=", 1.5, window="1h").replace("id: g", "id: pue")
    )
    lines = [
        csla.event("network", t(f"10:{m:02d}:{s:02d}"), jitter_ms=0.1 * m + 0.01 * s)
        for m in range(0, 20, 3)
        for s in (0, 17, 41)
    ]
    lines += [
        csla.event(
            "energy",
            t(f"10:{m:02d}:00"),
            period_start=utc_iso(csla.ms(t("09:00:00"))),
            period_end=utc_iso(csla.ms(t("10:00:00"))),
            total_kwh=1.1 + m / 7,
            it_kwh=1.0 + m / 9,
        )
        for m in range(0, 20, 4)
    ]
    _, whole = csla.run(rules, lines, until=t("11:00:00"))
    for size in (1, 2, 5, 7):
        batches = [lines[i : i + size] for i in range(0, len(lines), size)]
        _, split = csla.run(rules, [], batches=batches, until=t("11:00:00"))
        assert split.metrics == whole.metrics


# ── storage / network availability over the probes of selected resources ──────────────────
def test_storage_availability_counts_only_probes_of_selected_resources(csla: Any) -> None:
    objectives = (
        "- id: sto\n  sli: storage_availability\n  comparator: '>='\n  threshold: 99\n"
        "  window: 5m\n  resources: ['vol-*']\n"
        "- id: svc\n  sli: service_availability\n  comparator: '>='\n  threshold: 99\n"
        "  window: 5m\n"
    )
    rules = csla.ruleset(objectives)
    lines = []
    for minute in range(5):
        at = csla.ms(t("10:00:30")) + minute * 60_000
        # the volume fails its probe in minutes 1 and 2; the API endpoint never fails
        lines.append(csla.probe(at, minute not in (1, 2), resource="vol-a"))
        lines.append(csla.probe(at, True, resource="api-1"))
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    # storage: 3 of 5 minutes available = 60 %; service (all probes): a minute is unavailable
    # when its success < 100 %: minutes 1 and 2 have 1 of 2 ok → also 3/5 = 60 %
    sto = csla.metric_at(out, "sto", t("10:00:00"))
    assert (sto["value"], sto["good"], sto["total"]) == (60.0, 3, 5)
    assert csla.metric_at(out, "svc", t("10:00:00"))["value"] == 60.0


def test_network_availability_without_resources_is_rejected(csla: Any) -> None:
    from engine.ruleset import load_rule_text

    text = csla.rule_text(
        "- id: net\n  sli: network_availability\n  comparator: '>='\n  threshold: 99\n"
    )
    result = load_rule_text(text, "c1.yaml")
    messages = [str(issue) for issue in result.issues if issue.is_error]
    assert any("network_availability needs resources" in m for m in messages), messages


# ── the 72-hour continuous-run stability test ───────────────────────────────────────────────
def test_stability_worst_72_hours(csla: Any) -> None:
    objectives = (
        "- id: int\n  sli: stability_interruptions\n  comparator: '<='\n  threshold: 2\n"
        "  window: 1d\n"
        "- id: rec\n  sli: stability_recovery\n  comparator: '<='\n  threshold: 60\n"
        "  window: 1d\n"
    )
    rules = csla.ruleset(objectives)  # calendar month: all of it in March
    outages = [  # (down, up): 10 min on day 1, 20 min on day 3, 40 min on day 5, 5 min day 8
        ("2026-03-01T10:00:00", "2026-03-01T10:10:00"),
        ("2026-03-03T12:00:00", "2026-03-03T12:20:00"),
        ("2026-03-05T09:00:00", "2026-03-05T09:40:00"),
        ("2026-03-08T09:00:00", "2026-03-08T09:05:00"),
    ]
    lines = [csla.node("2026-03-01T00:00:00+08:00", "n1", "up")]
    for down, up in outages:
        lines += [csla.node(down + "+08:00", "n1", "down"), csla.node(up + "+08:00", "n1", "up")]
    _, out = csla.run(rules, lines, until="2026-03-11T00:00:00+08:00")
    # any 72 h span: starts 03-01 10:00 and 03-03 12:00 are 50 h apart → 2 in one span;
    # 03-03 12:00 and 03-05 09:00 are 45 h apart → 2; 03-01 10:00 → 03-05 09:00 is 95 h: never 3
    # recovery in one span: 03-03 + 03-05 = 20 + 40 = 60 min (the worst); 03-05 + 03-08
    # (72 h apart exactly: 03-05 09:00 → 03-08 09:00 is not < 72 h) → not together
    day = "2026-03-{:02d}T00:00:00+08:00"
    assert csla.metric_at(out, "int", day.format(1))["value"] == 1.0
    assert csla.metric_at(out, "int", day.format(3))["value"] == 2.0
    assert csla.metric_at(out, "rec", day.format(5))["value"] == 60.0
    assert csla.metric_at(out, "rec", day.format(8))["value"] == 60.0
    assert csla.metric_at(out, "int", day.format(9))["value"] == 2.0
    assert not [b for b in out.breaches if b["objective_id"] in ("int", "rec")]


def test_stability_breach_opens_when_a_third_interruption_falls_in_72_hours(csla: Any) -> None:
    rules = csla.ruleset(
        "- id: int\n  sli: stability_interruptions\n  comparator: '<='\n  threshold: 2\n"
        "  window: 1h\n"
    )
    lines = [csla.node(t("00:00:00"), "n1", "up")]
    for hour in ("01", "05", "09"):
        lines += [csla.node(t(f"{hour}:00:00"), "n1", "down"), csla.node(t(f"{hour}:10:00"), "n1", "up")]  # fmt: skip
    _, out = csla.run(rules, lines, until=t("12:00:00"))
    (breach,) = out.breaches
    assert breach["status"] == "opened" and breach["observed"] == 3.0
    assert breach["detected_at"] == csla.iso(t("10:00:00"))  # end of the 09:00 window


# ── wire format: the new kinds are validated like the others ────────────────────────────────
def test_new_kinds_bad_fields_are_dead_lettered(csla: Any) -> None:
    rules = csla.ruleset(rule("scale_out_time", "<=", 600))
    lines = [
        csla.event("scaling", t("10:00:00"), direction="up", requested_at=utc_iso(csla.ms(t("09:59:00"))),
                   completed_at=utc_iso(csla.ms(t("10:00:00")))),
        csla.event("scaling", t("10:00:00"), direction="out", requested_at=utc_iso(csla.ms(t("10:01:00"))),
                   completed_at=utc_iso(csla.ms(t("10:00:00")))),
        csla.event("provisioning", t("10:00:00"), requested_at="yesterday",
                   completed_at=utc_iso(csla.ms(t("10:00:00")))),
        csla.event("utilization", t("10:00:00"), tasks=-1),
    ]  # fmt: skip
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    errors = [d["error"] for d in out.dead]
    assert errors == [
        "schema violation: scaling: direction must be out or in",
        "schema violation: completed_at must not be before requested_at",
        "schema violation: requested_at and completed_at must be RFC 3339 instants with an offset",
        "schema violation: tasks must be ≥ 0",
    ]
