"""Write an evaluation report (report.json, report.md, PNG plots) and compare two reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The figures shown in summaries, in order: (section, metric).
SUMMARY = (
    ("retrieval", "recall@1"), ("retrieval", "recall@5"), ("retrieval", "recall@10"),
    ("retrieval", "mrr"), ("retrieval", "ndcg@10"),
    ("citations", "precision"), ("citations", "recall"), ("citations", "cited_sentences"),
    ("citations", "dangling"),
    ("answer", "must_mention"), ("answer", "faithfulness"), ("answer", "judge"),
    ("abstention", "unanswerable_declined"), ("abstention", "answerable_declined"),
    ("speed", "retrieval_ms_p50"), ("speed", "retrieval_ms_p95"),
    ("speed", "first_token_ms_p50"), ("speed", "first_token_ms_p95"),
    ("speed", "total_ms_p50"), ("speed", "total_ms_p95"),
)  # fmt: skip
BY_KIND = (
    ("retrieval", "recall@5"), ("retrieval", "mrr"), ("citations", "precision"),
    ("citations", "recall"), ("answer", "must_mention"), ("answer", "faithfulness"),
)  # fmt: skip


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def _get(summary: Mapping[str, Any], section: str, name: str) -> Any:
    return summary.get(section, {}).get(name)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def summary_rows(report: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(``section.metric``, value) for the overall figures present in ``report``."""
    overall = report["overall"]
    return [(f"{s}.{n}", _get(overall, s, n)) for s, n in SUMMARY
            if n in overall.get(s, {})]  # fmt: skip


def by_kind_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["kind", "n", *(n for _, n in BY_KIND)]
    rows = [[kind, str(s["n"]["questions"]), *(fmt(_get(s, sec, n)) for sec, n in BY_KIND)]
            for kind, s in report["by_kind"].items()]  # fmt: skip
    return header, rows


def markdown(report: Mapping[str, Any]) -> str:
    c = report["config"]
    parts = [
        f"# Evaluation: {c['dataset']} ({c['n']} questions)",
        "",
        f"backend `{c['backend']}`, model `{c['model']}`, embedder `{c['embedder']}`, "
        f"k={c['k']}, dataset sha256 `{c['dataset_sha256'][:12]}`",
        "",
        "## Overall",
        "",
        _table(["metric", "value"], [[name, fmt(v)] for name, v in summary_rows(report)]),
        "",
        "## By kind",
        "",
        _table(*by_kind_rows(report)),
        "",
        "![recall@5 and citation precision by kind](by_kind.png)",
        "",
        "![latency](latency.png)",
        "",
        "## Misses",
        "",
    ]
    misses = [q for q in report["questions"]
              if q["answerable"] and (q["retrieval"]["recall@5"] or 0) < 1]  # fmt: skip
    parts.append(_table(["id", "kind", "recall@5", "question"],
                        [[q["id"], q["kind"], fmt(q["retrieval"]["recall@5"]),
                          q["question"].replace("|", "\\|")] for q in misses])
                 if misses else "None: every gold paper was in the top 5.")  # fmt: skip
    return "\n".join(parts) + "\n"


def plot(report: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """by_kind.png (recall@5 and citation precision per kind) and latency.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(report["by_kind"])
    recall = [_get(report["by_kind"][k], "retrieval", "recall@5") or 0.0 for k in kinds]
    precision = [_get(report["by_kind"][k], "citations", "precision") or 0.0 for k in kinds]
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(kinds))
    ax.bar([x - 0.2 for x in xs], recall, width=0.4, label="recall@5")
    ax.bar([x + 0.2 for x in xs], precision, width=0.4, label="citation precision")
    ax.set_xticks(list(xs), kinds, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title("By kind of question")
    fig.tight_layout()
    by_kind = out_dir / "by_kind.png"
    fig.savefig(by_kind, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    for name in ("retrieval_ms", "first_token_ms", "total_ms"):
        vals = [q["timings"].get(name) for q in report["questions"]]
        vals = [v for v in vals if v is not None]
        if vals:
            ax.hist(vals, bins=20, alpha=0.5, label=name)
    ax.set_xlabel("milliseconds")
    ax.set_ylabel("questions")
    ax.legend()
    ax.set_title("Latency")
    fig.tight_layout()
    latency = out_dir / "latency.png"
    fig.savefig(latency, dpi=100)
    plt.close(fig)
    return [by_kind, latency]


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Write report.json, report.md and the plots to ``out_dir``; returns report.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "report.md").write_text(markdown(report), "utf-8")
    plot(report, out)
    return path


def compare(a_json: str | Path | Mapping[str, Any], b_json: str | Path | Mapping[str, Any]) -> str:
    """A side-by-side Markdown table of two reports' overall figures, with B - A deltas."""
    a, b = (x if isinstance(x, Mapping) else json.loads(Path(x).read_text("utf-8"))
            for x in (a_json, b_json))  # fmt: skip
    names = dict.fromkeys([n for n, _ in summary_rows(a)] + [n for n, _ in summary_rows(b)])
    rows = []
    for name in names:
        section, metric = name.split(".", 1)
        va, vb = _get(a["overall"], section, metric), _get(b["overall"], section, metric)
        delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        rows.append([name, fmt(va), fmt(vb), "-" if delta is None else f"{delta:+.3f}"])
    label = lambda r: f"{r['config'].get('backend')}/{r['config'].get('model')}"  # noqa: E731
    head = (
        f"A: {label(a)} on {a['config']['dataset']} (n={a['config']['n']})\n"
        f"B: {label(b)} on {b['config']['dataset']} (n={b['config']['n']})"
    )
    if a["config"].get("dataset_sha256") != b["config"].get("dataset_sha256"):
        head += "\nwarning: the two reports used different datasets"
    return head + "\n\n" + _table(["metric", "A", "B", "B - A"], rows) + "\n"
