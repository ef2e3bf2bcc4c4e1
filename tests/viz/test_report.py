"""Run reports: one self-contained report.html that a browser renders with every image loaded."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqattn.cli.main import main
from seqattn.experiments.base import metric_records, write_metrics
from seqattn.viz import AttentionView, plot_panels, save_attention
from seqattn.viz.report import markdown_tables_html, read_metrics, render_report, write_report

EVIL = "<script>alert('x')</script>"
TABLE = "| model | acc |\n|---|---:|\n| rnn | 0.5 |\n| lstm \\| fb1 | 0.9 |\n\n| a |\n|:-:|\n| z |"


def _build(tmp_path: Path) -> tuple[Path, dict]:
    """A report with real matplotlib figures, metrics, three kinds of attention view."""
    curves = {"loss": {"a": ([0, 1, 2], [3.0, 2.0, 1.0])}}
    png = plot_panels(curves, tmp_path / "curve.png", xlabel="step", ylabel="loss")
    svg = plot_panels(curves, tmp_path / "curve.svg", xlabel="step", ylabel="loss")
    saved = save_attention(
        AttentionView(torch.softmax(torch.randn(3, 5), -1), title="saved"), tmp_path, "att",
        formats=("html",),
    )  # fmt: skip
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for step in range(0, 50, 10):
            f.write(json.dumps({"step": step, "loss": 2.0 / (step + 1), "acc": step / 50}) + "\n")
        f.write("not json\n")
    attention = [
        {"weights": torch.softmax(torch.randn(2, 3, 4), -1).tolist(), "title": "two heads"},
        AttentionView(torch.tensor([0.6, 0.3, 0.1]), keys=["x", "<y>", "z"], title="pool"),
        str(saved["html"]),
    ]
    kwargs = dict(
        title="demo <run>",
        command="seqattn run demo --set 'name=a b'",
        config={"name": EVIL, "sizes": (1, 2), "lr": 0.1},
        results={"experiment": "demo", "seconds": 1.25, "rows": [{"n": 1}]},
        versions={"seqattn": "0.1", "torch": torch.__version__},
        table_markdown=TABLE,
        figures=[str(png), str(svg)],
        metrics_path=tmp_path / "metrics.jsonl",
        attention=attention,
    )
    return write_report(tmp_path, **kwargs), kwargs


def _without_data_uris(page: str) -> str:
    return re.sub(r"data:[a-z/+]+;base64,[A-Za-z0-9+/=]+", "DATA", page)


def test_report_is_self_contained(tmp_path):
    path, _ = _build(tmp_path)
    page = path.read_text(encoding="utf-8")
    assert path.name == "report.html" and page.startswith("<!DOCTYPE html>")
    rest = _without_data_uris(page)
    for bad in ("http:", "https:", "file:", "//", 'src="/', "<link", "url("):
        assert bad not in rest, bad
    # every src/href is a data URI or an in-page anchor
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), refs


def test_figures_metrics_attention_embedded(tmp_path):
    path, kw = _build(tmp_path)
    page = path.read_text(encoding="utf-8")
    for fig in kw["figures"]:
        data = base64.b64encode(Path(fig).read_bytes()).decode()
        assert data in page, fig
    assert page.count("data:image/png;base64,") == 2  # the curve and the metrics plot
    assert page.count("data:image/svg+xml;base64,") == 1
    assert "metrics over step: loss, acc" in page
    assert "6 record(s)" not in page and "5 record(s) in metrics.jsonl" in page
    # attention: a dict view (multi-head tabs), an AttentionView, a saved page in an iframe
    assert page.count('data-kind="multihead"') == 1 and page.count('data-kind="pooling"') == 1
    assert "&lt;y&gt;" in page and "<y>" not in page
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in page
    for sid in ("summary", "results", "figures", "attention", "metrics", "command", "config",
                "environment", "raw"):  # fmt: skip
        assert f'<section id="{sid}">' in page


def test_table_command_config_escaped(tmp_path):
    path, _ = _build(tmp_path)
    page = path.read_text(encoding="utf-8")
    assert '<th>model</th><th class="num">acc</th>' in page
    assert '<td>lstm | fb1</td><td class="num">0.9</td>' in page
    assert '<th class="center">a</th>' in page  # the second table
    assert "<pre>seqattn run demo --set &#x27;name=a b&#x27;</pre>" in page
    assert "sizes:\n- 1\n- 2\n" in page  # tuples become YAML lists
    assert EVIL not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # only the attention tab switcher
    assert "<title>demo &lt;run&gt;</title>" in page


def test_missing_figure_and_bad_view_are_reported_not_fatal(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="seqattn.viz"):
        path = write_report(tmp_path, title="t", command="c", config={}, results={}, versions={},
                            figures=["nowhere/gone.png", "notes.txt"], metrics_path="absent.jsonl",
                            attention=[{"weights": [[0.5, float("nan")]]}, 3])  # fmt: skip
    page = path.read_text()
    assert "figure not found: nowhere/gone.png" in page
    assert "not an embeddable image" in page
    assert "metrics file not found" in page
    assert "attention view 0 cannot be shown: expected finite attention weights" in page
    assert "attention view 1 cannot be shown: expected an AttentionView" in page
    assert "gone.png" in caplog.text and "absent.jsonl" in caplog.text


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected config as a mapping, got list"):
        render_report(title="t", command="c", config=[], results={}, versions={})
    with pytest.raises(TypeError, match="expected figures and attention as sequences"):
        render_report(title="t", command="c", config={}, results={}, versions={}, figures="a.png")
    with pytest.raises(TypeError, match="expected Markdown text as str, got int"):
        markdown_tables_html(3)


def test_markdown_tables_pad_ragged_rows_and_keep_prose():
    out = markdown_tables_html(
        "# Title\nsome <b>text</b>\n| a | b |\n|---|---|\n| 1 |\n| 1 | 2 | 3 |"
    )
    assert out.startswith("<h3>Title</h3><p>some &lt;b&gt;text&lt;/b&gt;</p>")
    assert "<tr><td>1</td><td></td></tr><tr><td>1</td><td>2</td></tr>" in out
    assert markdown_tables_html("a | b\nno separator") == "<p>a | b</p><p>no separator</p>"


def test_metric_records_and_write_metrics(tmp_path):
    results = {"experiment": "x", "seconds": 2.0, "bad": math.nan, "curves": {"a": [1]},
               "table": [{"cell": "rnn", "ratio": 1e5, "curve": [1, 2]}],
               "metrics": [{"step": 0, "loss": 1.0}, {"step": 5, "loss": 0.5}],
               "attention": [{"weights": [1.0], "title": "not a table"}]}  # fmt: skip
    recs = metric_records(results, time="T")
    assert len(recs) == 4  # own metrics, one table row, the summary; "attention" is no table
    assert recs[:2] == [
        {"step": 0, "loss": 1.0, "time": "T"},
        {"step": 5, "loss": 0.5, "time": "T"},
    ]
    assert recs[2] == {"kind": "row", "table": "table", "index": 0, "cell": "rnn", "ratio": 1e5,
                       "time": "T"}  # fmt: skip
    assert recs[3] == {"kind": "summary", "experiment": "x", "seconds": 2.0, "bad": None,
                       "time": "T"}  # fmt: skip
    with pytest.raises(TypeError, match=r'expected results\["metrics"\] as a list of dicts'):
        metric_records({"metrics": {"step": 1}})

    path = write_metrics(tmp_path, results)
    assert [r["kind"] for r in read_metrics(path)[2:]] == ["row", "summary"]
    path.write_text('{"step": 1, "loss": 9}\n')  # a run that logged its own metrics keeps them
    assert read_metrics(write_metrics(tmp_path, results, since=time.time() - 60)) == [
        {"step": 1, "loss": 9}
    ]
    # a file older than this run is a leftover of an earlier run in the same folder: replaced
    assert len(read_metrics(write_metrics(tmp_path, results, since=time.time() + 60))) == 4


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, str]:
    """A real ``seqattn run attention-scores`` at toy scale (seconds): its folder and stdout."""
    out = tmp_path_factory.mktemp("run")
    argv = ["run", "attention-scores", "--out", str(out), "--set", "scores=[dot, additive]",
            "--set", "steps=40", "--set", "seeds=1", "--set", "eval_examples=200",
            "--set", "pairs=4", "--set", "num_keys=8", "--set", "num_values=8"]  # fmt: skip
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setattr(sys, "argv", ["seqattn", *argv])  # what a shell would have passed
        assert main(argv) == 0
    return out, printed.getvalue()


def test_cli_run_writes_results_metrics_and_report(tiny_run):
    out, printed = tiny_run
    assert f"report:  {out / 'report.html'}" in printed
    payload = json.loads((out / "results.json").read_text())
    records = read_metrics(out / "metrics.jsonl")
    assert [r["score"] for r in records if r.get("table") == "table"] == ["dot", "additive"]
    assert records[-1]["kind"] == "summary" and records[-1]["experiment"] == "attention-scores"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<pre>seqattn run attention-scores --out" in page
    assert "scores=[dot, additive]" in payload["command"]  # quoted, pastes back as one argument
    assert page.count("<img ") == len(payload["results"]["figures"]) == 1  # learning curves
    # one interactive attention view per score, embedded whole
    assert page.count('<iframe class="view"') == len(payload["results"]["attention"]) == 2
    assert "<td>additive</td>" in page and "num_keys: 8" in page


# -- in a real browser ---------------------------------------------------------------------------

# Injected first into a copy of the report: records script errors, console errors/warnings and
# failed resource loads; after the load event writes them, and the image count, onto <body>.
_PROBE = """<script>
(function(){
  var errs=[];
  window.addEventListener('error',function(e){
    errs.push(e.message||('failed to load '+((e.target&&(e.target.src||e.target.href))||'?')));
  },true);
  window.addEventListener('unhandledrejection',function(e){errs.push('rejection '+e.reason);});
  ['error','warn'].forEach(function(k){var f=console[k];
    console[k]=function(){errs.push(k+': '+Array.prototype.join.call(arguments,' '));
      return f.apply(console,arguments);};});
  window.addEventListener('load',function(){
    var im=document.images,ok=0;
    for(var i=0;i!==im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}
    document.body.setAttribute('data-images',ok+'/'+im.length);
    document.body.setAttribute('data-errors',errs.join(' | '));
  });
})();
</script>"""


@pytest.fixture(scope="module")  # module scope: set up, and skip, before the module's tiny run
def browser() -> str:
    """Chromium's path; skips when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium not installed (apt-get install chromium); .ci/run installs it")


def _render_in_browser(browser: str, page: Path, profile: Path) -> tuple[str, str]:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--mute-audio", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
           page.as_uri()]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish rendering the report within 60 s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def _check_in_browser(browser: str, report: Path, profile: Path) -> str:
    """Render ``report`` headless; assert every image loaded and the page logged no error."""
    probed = report.with_name("probed_" + report.name)
    probed.write_text(report.read_text(encoding="utf-8").replace("<head>", "<head>" + _PROBE, 1),
                      encoding="utf-8")  # fmt: skip
    dom, stderr = _render_in_browser(browser, probed, profile)
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:2000]
    images = re.search(r'data-images="(\d+)/(\d+)"', body.group(1))
    errors = re.search(r'data-errors="([^"]*)"', body.group(1))
    assert images and errors, f"the load event never ran: {body.group(0)[:500]}"
    assert images.group(1) == images.group(2) == str(report.read_text().count("<img ")), images[0]
    assert errors.group(1) == "", errors.group(1)
    # Chromium also logs console messages to stderr; only lines from this page count (dbus,
    # GPU and sandbox noise from the browser itself does not).
    console = [ln for ln in stderr.splitlines() if "CONSOLE" in ln and probed.name in ln]
    assert not console, console
    return dom


def test_report_renders_in_headless_chromium(browser, tmp_path, tiny_run):
    out, _ = tiny_run
    dom = _check_in_browser(browser, out / "report.html", tmp_path / "profile")
    for sid in ("results", "figures", "metrics", "command", "config", "environment"):
        assert f'<section id="{sid}">' in dom
    assert "seqattn run attention-scores" in dom and "<td>additive</td>" in dom
    assert 'data-images="1/1"' in dom  # the learning curves; attention views are iframes

    # the same run's report with every kind of attention view, an SVG and a metrics plot
    payload = json.loads((out / "results.json").read_text())
    _, extra = _build(tmp_path / "extra")
    extra.update(command=payload["command"], config=payload["config"],
                 results=payload["results"], versions=payload["versions"],
                 figures=payload["results"]["figures"] + extra["figures"])  # fmt: skip
    report = write_report(out, filename="enriched.html", **extra)
    dom = _check_in_browser(browser, report, tmp_path / "profile")
    assert '<section id="attention">' in dom and "two heads" in dom
    assert 'data-images="4/4"' in dom  # + curve.png, curve.svg and the metrics plot
