"""The speedrun's report card: what each stage took in, made, and measured.

``collect(out)`` reads only the files the stages wrote (the curation report,
the shard manifests, the training metrics, the alignment checkpoints, the
evaluation JSON, the sample chats), so a report can be rebuilt at any time.
``write_report(out)`` renders it twice: ``report.md`` with its figures as PNG
files beside it, and ``report.html`` with the same figures embedded as base64
images and its style inline, so the one file opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

# What each alignment stage's figure draws: the losses, and RL's mean reward.
ALIGN_CURVE = {"sft": "loss", "dpo": "loss", "rl": "reward"}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def collect(out: str | Path) -> dict[str, Any]:
    """Every number the report shows, from the files under ``out``."""
    from llm_from_scratch.capstone.config import STATE_FILE
    from llm_from_scratch.utils import environment_report

    out = Path(out)
    state = _read_json(out / STATE_FILE)
    if state is None:
        raise FileNotFoundError(f"{out / STATE_FILE} does not exist: "
                                f"is {out} a speedrun?")
    curation = _read_json(out / "curated" / "report.json") or {}
    shards = {split: _read_json(out / "shards" / split / "shard_manifest.json")
              for split in ("train", "val")}
    metrics = _jsonl(out / "pretrain" / "metrics.jsonl")
    align = {}
    for stage in ("sft", "dpo", "rl"):
        info = _read_json(out / "aligned" / stage / "state.json")
        if info is not None:
            align[stage] = _history(info)
    evals = {p.stem: json.loads(p.read_text())
             for p in sorted((out / "eval").glob("*.json"))}
    return {
        "out": str(out), "settings": state["settings"], "stages": state["stages"],
        "seconds": state["seconds"], "funnel": curation.get("stages", []),
        "reasons": curation.get("reasons", {}), "shards": shards,
        "train": [m for m in metrics if "loss" in m],
        "val": [m for m in metrics if "val_loss" in m], "align": align,
        "eval": evals, "chats": _read_json(out / "chats.json") or [],
        "environment": environment_report(),
    }


def _history(info: dict[str, Any]) -> list[dict[str, Any]]:
    """An alignment checkpoint's per-step records (its ``history``)."""
    for holder in (info, info.get("metadata") or {}, info.get("extra") or {}):
        if isinstance(holder.get("history"), list):
            return holder["history"]
    return []


# --- figures: each draws on axes it is given (the chapter draws them too) -------------
def plot_funnel(ax: Any, data: dict[str, Any]) -> None:
    names = [s["stage"] for s in data["funnel"]]
    ax.barh(names[::-1], [s["bytes_out"] / 1e6 for s in data["funnel"]][::-1])
    ax.set_xlabel("MB kept after the stage")


def plot_pretrain(ax: Any, data: dict[str, Any]) -> None:
    ax.plot([m["step"] for m in data["train"]], [m["loss"] for m in data["train"]],
            lw=0.8, label="train loss")
    if data["val"]:
        ax.plot([m["step"] for m in data["val"]], [m["val_loss"] for m in data["val"]],
                "o-", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()


def align_curves(data: dict[str, Any]) -> dict[str, tuple[str, list[float]]]:
    """Per alignment stage: (what is drawn, its values per step)."""
    curves = {}
    for stage, history in data["align"].items():
        key = ALIGN_CURVE.get(stage, "loss")
        curves[stage] = (key, [h[key] for h in history if key in h])
    return curves


def plot_align(axes: Any, data: dict[str, Any]) -> None:
    for ax, (stage, (key, ys)) in zip(axes, align_curves(data).items()):
        ax.plot(ys, lw=0.9)
        ax.set_title(f"{stage.upper()} {key}")
        ax.set_xlabel("step")


def plot_eval(ax: Any, data: dict[str, Any]) -> None:
    rows = eval_rows(data)
    tasks = sorted({r["task"] for r in rows})
    for shift, model in ((-0.2, "pretrained"), (0.2, "aligned")):
        mine = {r["task"]: r for r in rows if r["model"] == model}
        xs = [i + shift for i, t in enumerate(tasks) if t in mine]
        ax.bar(xs, [mine[t]["value"] for t in tasks if t in mine], width=0.4,
               yerr=[1.96 * mine[t]["stderr"] for t in tasks if t in mine],
               capsize=3, label=model)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel("score (95% interval)")
    ax.set_ylim(0, 1.05)
    ax.legend()


def figures(data: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes of each figure the data allows, by name. Drawn on matplotlib
    ``Figure`` objects, not pyplot: the caller's backend (a notebook's) is left
    alone."""
    from matplotlib.figure import Figure

    made: dict[str, bytes] = {}
    plans = [("funnel", data["funnel"], (6.4, 2.8), plot_funnel),
             ("pretrain", data["train"], (6.4, 3.0), plot_pretrain),
             ("eval", eval_rows(data), (6.4, 2.8), plot_eval)]
    for name, present, size, plot in plans:
        if present:
            fig = Figure(figsize=size)
            plot(fig.subplots(), data)
            made[name] = _png(fig)
    curves = align_curves(data)
    if any(ys for _, ys in curves.values()):
        fig = Figure(figsize=(6.4, 2.4))
        plot_align(fig.subplots(1, len(curves), squeeze=False)[0], data)
        made["align"] = _png(fig)
    return made


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def headline_metric(metrics: dict[str, Any]) -> str:
    """The metric a task is reported by: accuracy, exact match, else the first."""
    return next((m for m in ("acc", "exact_match", "accuracy") if m in metrics),
                next(iter(metrics)))


def eval_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, task) with its accuracy and standard error."""
    rows = []
    for name, result in data["eval"].items():
        model, _, task = name.partition("-")
        name = headline_metric(result["metrics"])
        metric = result["metrics"][name]
        rows.append({"model": model, "task": task, "n": result["n_items"],
                     "metric": name,
                     "value": metric["value"], "stderr": metric["stderr"]})
    return rows


# --- rendering ----------------------------------------------------------------------
def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def sections(data: dict[str, Any]) -> list[tuple[str, list[str], str | None]]:
    """(title, markdown lines, figure name or None) of each part of the report."""
    stages, parts = data["stages"], []
    budget = data["settings"]["budget_minutes"]
    head = [f"Total {data['seconds'] / 60:.1f} min against a budget of "
            f"{budget:g} min.", ""]
    head += _table(["stage", "seconds", "result"],
                   [[k, f"{v['seconds']:.1f}", v["summary"]]
                    for k, v in stages.items()])
    parts.append(("Stages", head, None))
    if data["funnel"]:
        rows = [[s["stage"], s["docs_in"], s["docs_out"], f"{s['bytes_in']:,}",
                 f"{s['bytes_out']:,}"] for s in data["funnel"]]
        lines = _table(["stage", "docs in", "docs out", "bytes in", "bytes out"], rows)
        top = sorted(data["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))[:6]
        if top:
            lines += ["The most frequent reasons for removal: " + "; ".join(
                f"{k} ({v})" for k, v in top) + ".", ""]
        parts.append(("Data curation", lines, "funnel"))
    train, val = data["shards"]["train"], data["shards"]["val"]
    if train and val:
        bpt = train["metadata"].get("bytes_per_token")
        lines = [f"Vocabulary {train['vocab_size']} tokens; {bpt:.2f} bytes per token "
                 f"on the training split; {train['num_tokens']:,} training and "
                 f"{val['num_tokens']:,} validation tokens "
                 f"({train['num_documents']} and {val['num_documents']} "
                 "documents).", ""]
        parts.append(("Tokenizer and shards", lines, None))
    if data["train"]:
        last = data["val"][-1] if data["val"] else {}
        lines = [f"Trained to step {data['train'][-1]['step']}; final train loss "
                 f"{data['train'][-1]['loss']:.3f}"
                 + (f", validation loss {last['val_loss']:.3f} "
                    f"({last.get('val_bpb', float('nan')):.3f} bits per byte)"
                    if last else "")
                 + ".", ""]
        parts.append(("Pretraining", lines, "pretrain"))
    if data["align"]:
        rows = [[k, len(v), f"{v[-1]['loss']:.3f}" if v and "loss" in v[-1] else "-"]
                for k, v in data["align"].items()]
        table = _table(["stage", "steps", "final loss"], rows)
        parts.append(("Alignment", table, "align"))
    rows = eval_rows(data)
    if rows:
        lines = ["Each task's headline metric with its standard error (the "
                 "Evaluation chapter's estimator); the figure draws 1.96 standard "
                 "errors. Chance on cloze and quotes is 0.25.", ""]
        lines += _table(["model", "task", "items", "metric", "value", "stderr"],
                        [[r["model"], r["task"], r["n"], r["metric"],
                          f"{r['value']:.3f}",
                          f"{r['stderr']:.3f}"] for r in rows])
        parts.append(("Evaluation", lines, "eval"))
    if data["chats"]:
        lines = []
        for chat in data["chats"]:
            lines += [f"**user:** {chat['prompt']}", "",
                      f"**assistant:** {chat['reply'] or '(empty)'}", ""]
        parts.append(("Sample chats", lines, None))
    env = _table(["", "value"], [[k, v] for k, v in data["environment"].items()])
    settings = _table(["setting", "value"],
                      [[k, v] for k, v in data["settings"].items()])
    parts.append(("Environment and settings", env + settings, None))
    return parts


def render_markdown(data: dict[str, Any], figure_dir: str = "report_files") -> str:
    lines = [f"# Speedrun report: {data['out']}", ""]
    for title, body, figure in sections(data):
        lines += [f"## {title}", "", *body]
        if figure and figure in data.get("figures", {}):
            lines += [f"![{title}]({figure_dir}/{figure}.png)", ""]
    return "\n".join(lines)


STYLE = ("body{font-family:system-ui,sans-serif;max-width:52em;margin:2em auto;"
         "padding:0 1em;line-height:1.45;color:#222}table{border-collapse:collapse;"
         "margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
         "th{background:#f3f3f3}img{max-width:100%}")


def _inline(text: str) -> str:
    out = html.escape(text)
    while "**" in out:  # **bold**, the only inline markup the report uses
        out = out.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return out


def _html_body(lines: list[str]) -> list[str]:
    parts, rows = [], []
    for line in [*lines, ""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                rows.append([c.strip() for c in line.strip("|").split("|")])
            continue
        if rows:
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r)
                           + "</tr>" for r in rows[1:])
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
            rows = []
        if line:
            parts.append(f"<p>{_inline(line)}</p>")
    return parts


def render_html(data: dict[str, Any]) -> str:
    """One self-contained page: inline style, figures as data: URIs, no links out."""
    title = html.escape(f"Speedrun report: {data['out']}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
             f"<style>{STYLE}</style></head><body><h1>{title}</h1>"]
    for name, body, figure in sections(data):
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts += _html_body(body)
        png = data.get("figures", {}).get(figure) if figure else None
        if png:
            parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,"
                         f"{base64.b64encode(png).decode()}'>")
    return "\n".join(parts + ["</body></html>"])


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write ``out/report.md`` (its figures in ``out/report_files/``) and
    ``out/report.html``."""
    out = Path(out)
    data = collect(out)
    data["figures"] = figures(data)
    folder = out / "report_files"
    folder.mkdir(exist_ok=True)
    for name, png in data["figures"].items():
        (folder / f"{name}.png").write_bytes(png)
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(data) + "\n")
    page.write_text(render_html(data) + "\n")
    return md, page
