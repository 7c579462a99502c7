"""The figures as a table: each against its baseline and the issue's target."""

from __future__ import annotations

from bench.plan import Plan

# (label, figure, baseline, ratio, target)
ROWS = [
    ("ack p99, {burst} at once (worse of /agent, Approve)", "ack_p99_ms", "ack_p99_ms_bare",
     "ack_ratio", "<= 1.5x and < 100 ms"),
    ("ack p99 on SQLite, {burst} at once (worse of the two)", "ack_p99_ms_sqlite",
     "ack_p99_ms_sqlite_bare", "ack_ratio_sqlite", "<= 1.5x"),
    ("click -> result posted, p50 (ms)", "decide_ms", "decide_ms_bare", "decide_ratio",
     "<= 2x"),
    ("sustained decisions/s, 8 clickers", "decisions_per_s", "decisions_per_s_bare",
     "throughput_ratio", ">= 0.6x"),
    ("sustained decisions/s, two processes vs one", "decisions_per_s_2proc",
     "decisions_per_s_1proc", "scale_out_ratio", ">= 1.6x"),
    ("  CPU a decision costs, all processes (ms)", "cpu_ms", "cpu_ms_bare", "cpu_ratio", ""),
    ("  most decisions/s these cores allow, vs one process", "cpu_bound_per_s",
     "decisions_per_s_1proc", "scale_out_ceiling", "two processes' ceiling here"),
    ("tick, database part, {backlog} vs 1k pending, 1% due (ms)", "tick_ms_backlog",
     "tick_ms_1k", "tick_growth", "< 50 ms at 100k"),
    ("1,000 due reminders over 10 channels reach Slack (s)", "notify_s_1000_due", None, None,
     "digests, channels at once"),
    ("a Slack call over TLS, p50 (ms; baseline slack_sdk)", "slack_call_ms",
     "slack_call_ms_sdk", "slack_call_ratio", "one handshake, not one a call"),
    ("  its CPU in the calling thread, p50 (ms)", "slack_call_cpu_ms", "slack_call_cpu_ms_sdk",
     "slack_call_cpu_ratio", ""),
    ("RSS, {backlog} pending vs 0 (MiB)", "rss_mb_backlog", "rss_mb_0", None, "<= 1.1x"),
    ("bytes per pending request", "bytes_per_pending", None, None, ""),
]  # fmt: skip


def render(figures: dict[str, float], plan: Plan, seconds: float) -> str:
    lines = [
        f"\n{plan.name} bench, {seconds:.0f} s",
        f"| {'figure':<54} | {'bot':>10} | {'baseline':>10} | {'ratio':>7} | target",
        f"|{'-' * 56}|{'-' * 12}|{'-' * 12}|{'-' * 9}|{'-' * 26}",
    ]
    for template, key, base, ratio, target in ROWS:
        label = template.format(burst=plan.burst, backlog=f"{plan.backlog // 1000}k")
        shown_base = f"{figures[base]:10.2f}" if base else f"{'':10}"
        if ratio:
            shown_ratio = f"{figures[ratio]:6.2f}x"
        elif key == "rss_mb_backlog":
            shown_ratio = f"{figures[key] / figures['rss_mb_0']:6.2f}x"
        else:
            shown_ratio = f"{'':7}"
        lines.append(
            f"| {label:<54} | {figures[key]:10.2f} | {shown_base} | {shown_ratio} | {target}"
        )
    return "\n".join(lines)
